// cycle-a.js and cycle-b.js import each other: flask-s3 hashes the two together.
import { pong } from "./cycle-b.js";

export function ping(n) {
  return n <= 0 ? "cycle done" : pong(n - 1);
}
