export function lazyMessage() {
  return "lazy chunk loaded";
}
