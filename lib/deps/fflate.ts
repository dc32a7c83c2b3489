/**
 * fflate, pinned: its `Zip` lays out the archives lockstep writes (local
 * headers, data descriptors, central directory), fed entries whose data
 * `node:zlib` deflated. Loaded with a dynamic `import()` only when a bundle or
 * backup is written.
 *
 * @module
 */
export { Zip, type ZipInputFile } from "npm:fflate@0.8.3";
