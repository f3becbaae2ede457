// wasi/run.mjs's host, except that poll_oneoff refuses stdin the way
// WASI preview 1 says a host reports a subscription it cannot serve: as
// an event with its error set (EPERM), the call itself succeeding. Node's
// own WASI fails the whole call instead; this is the other answer a host
// may give, for stdin_refused.sh.
//   node refusing_host.mjs prog.wasm [args...]
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv, env, exit } from 'node:process';

const [path, ...args] = argv.slice(2);
const preopens = { '.': '.', '/tmp': env.TMPDIR || '/tmp' };
const wasi = new WASI({ version: 'preview1', args: [path, ...args],
			env: { ...env, TMPDIR: '/tmp' }, preopens, returnOnExit: true });
const imports = typeof wasi.getImportObject === 'function' ?
	wasi.getImportObject() : { wasi_snapshot_preview1: wasi.wasiImport };
const host = imports.wasi_snapshot_preview1;
const realPoll = host.poll_oneoff;
const EPERM = 63, FD_READ = 1, FD_WRITE = 2, SUB = 48, EVENT = 32;
let instance;
// Preview 1's layouts: a subscription is userdata (u64), tag (u8) at 8,
// its fd (u32) at 16; an event is userdata, error (u16) at 8, type (u8)
// at 10, then 16 bytes of fd_readwrite.
host.poll_oneoff = (inPtr, outPtr, n, neventsPtr) => {
	const mem = new DataView(instance.exports.memory.buffer);
	let refused = 0;
	for (let i = 0; i < n; i++) {
		const s = inPtr + i * SUB, tag = mem.getUint8(s + 8);
		if ((tag !== FD_READ && tag !== FD_WRITE) || mem.getUint32(s + 16, true) !== 0)
			continue;
		const e = outPtr + refused++ * EVENT;
		mem.setBigUint64(e, mem.getBigUint64(s, true), true);
		mem.setUint16(e + 8, EPERM, true);
		mem.setUint8(e + 10, tag);
		mem.setBigUint64(e + 16, 0n, true);
		mem.setUint16(e + 24, 0, true);
	}
	if (refused === 0)
		return realPoll(inPtr, outPtr, n, neventsPtr);
	mem.setUint32(neventsPtr, refused, true);
	return 0;
};
const module = await WebAssembly.compile(await readFile(path));
instance = await WebAssembly.instantiate(module, imports);
exit(wasi.start(instance));
