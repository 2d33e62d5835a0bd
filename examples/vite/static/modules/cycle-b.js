import { ping } from "./cycle-a.js";

export function pong(n) {
  return ping(n);
}
