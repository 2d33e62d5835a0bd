export function label(what) {
  return `${what} ran`;
}
