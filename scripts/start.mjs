// npm start: the main job. Sets up the host and builds the images, then hands over to `vmdocker up`.
import { cli, prepare, step } from "./prepare.mjs";

prepare();
step(process.execPath, [cli, "up", ...process.argv.slice(2)]);
