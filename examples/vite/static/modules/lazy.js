export function lazyMessage() {
  return "lazy module loaded";
}
