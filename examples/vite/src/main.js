import { greet } from "./greet.js";
import "./style.css";

const logo = new URL("./logo.svg", import.meta.url);

document.getElementById("vite-status").textContent = greet("Vite");
document.getElementById("logo").src = logo.href;

import("./lazy.js").then(({ lazyMessage }) => {
  document.getElementById("vite-lazy").textContent = lazyMessage();
  document.body.dataset.vite = "yes";
});
