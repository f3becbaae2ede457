// Run a wasm32-wasi program under Node's built-in WASI (node:wasi, preview
// 1): scripts/wasi-run and ctest's wasi tests. The program sees its
// arguments, the environment, and the current directory and /tmp
// pre-opened (as "." and "/tmp"), and exits with its own status.
//   node wasi/run.mjs prog.wasm [args...]
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv, env, exit } from 'node:process';

const [path, ...args] = argv.slice(2);
if (!path) {
	console.error('usage: wasi-run prog.wasm [args...]');
	exit(2);
}
// The host's temporary directory is the guest's /tmp.
const preopens = { '.': '.', '/tmp': env.TMPDIR || '/tmp' };
const wasi = new WASI({ version: 'preview1', args: [path, ...args],
			env: { ...env, TMPDIR: '/tmp' }, preopens, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(path));
// getImportObject is Node >= 19.8's; Debian 12's Node 18 has wasiImport.
const imports = typeof wasi.getImportObject === 'function' ?
	wasi.getImportObject() : { wasi_snapshot_preview1: wasi.wasiImport };
const instance = await WebAssembly.instantiate(module, imports);
exit(wasi.start(instance));
