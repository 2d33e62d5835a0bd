"""The edge: helpers of the command line (PR comment, IAM policy, init, create_all, local S3)."""
