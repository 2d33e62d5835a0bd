// Vite builds src/main.js into static/dist/, the Flask app's static folder, with a manifest
// (static/dist/.vite/manifest.json) that the app reads and flask-s3 recognises: the files it
// names are already hashed, so flask-s3 stores them under their own names.
// No `import ... from "vite"`: the config stays a plain object so it runs from any folder.
export default {
  base: "./", // chunks and assets refer to each other relatively: any host, any prefix
  build: {
    outDir: "static/dist",
    emptyOutDir: true,
    manifest: true,
    sourcemap: true,
    assetsInlineLimit: 0, // logo.svg as a file of its own, named in the manifest
    rollupOptions: { input: "src/main.js" },
  },
};
