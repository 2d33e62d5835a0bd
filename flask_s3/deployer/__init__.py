"""Two inventories to a plan, and the plan carried out: snapshot, planner, apply, verify."""
