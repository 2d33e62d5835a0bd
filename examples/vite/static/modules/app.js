// Plain ES modules, no build step: flask-s3 renames each file after its content and
// rewrites the imports below to the new names, leaves first.
import { label } from "./util.js";
import { ping } from "./cycle-a.js";

document.getElementById("status").textContent = label("modules");
document.getElementById("cycle").textContent = ping(3);

// Not references: a comment naming "./gone.js", and the same text in strings.
const notAnImport = 'import("./gone.js")';
const pattern = /import\("\.\/gone\.js"\)/;
console.assert(pattern.test(notAnImport));

const data = new URL("./data.json", import.meta.url);
fetch(data)
  .then((response) => response.json())
  .then((json) => {
    document.getElementById("data").textContent = json.message;
  });

import("./lazy.js").then(({ lazyMessage }) => {
  document.getElementById("lazy").textContent = lazyMessage();
  document.body.dataset.ready = "yes";
});
//# sourceMappingURL=app.js.map
