// tarball: packs picked files (several images, or a whole folder) into one
// uncompressed POSIX ustar archive, so a calibration set chosen as files
// goes through the same checked upload as an archive does (issue 17).
// The archive is a Blob made of 512-byte headers and the File objects
// themselves: the browser streams the files from disk when it sends it, so
// nothing is read into memory here, whatever the set's size.
//
// The format: POSIX.1-1988 ustar (the header layout of `man 5 tar`, "POSIX
// ustar Archives"), which libarchive reads on the server.

const BLOCK = 512;
const enc = new TextEncoder();

function put(h, off, len, text) {
	const b = enc.encode(text);
	h.set(b.subarray(0, len), off);
}

function octal(h, off, len, n) {
	// len-1 octal digits and a NUL, as tar(5) asks
	put(h, off, len, n.toString(8).padStart(len - 1, '0') + '\0');
}

// A path longer than the 100-byte name field goes into prefix (155) + name
// at a '/', as ustar allows; a path that cannot be split keeps its file
// name, shortened, under its position, so it stays unique.
function splitPath(path, index) {
	const b = enc.encode(path);
	if (b.length <= 100) return { name: path, prefix: '' };
	for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
		const prefix = path.slice(0, i);
		const name = path.slice(i + 1);
		if (enc.encode(prefix).length <= 155 && enc.encode(name).length <= 100 && name) return { name, prefix };
	}
	const base = path.slice(path.lastIndexOf('/') + 1);
	let short = base;
	while (enc.encode(short).length > 80) short = short.slice(1);
	return { name: `${String(index).padStart(6, '0')}-${short}`, prefix: '' };
}

function header(path, size, mtime, index) {
	const h = new Uint8Array(BLOCK);
	const { name, prefix } = splitPath(path, index);
	put(h, 0, 100, name);
	octal(h, 100, 8, 0o644);
	octal(h, 108, 8, 0);
	octal(h, 116, 8, 0);
	octal(h, 124, 12, size);
	octal(h, 136, 12, Math.max(0, Math.floor(mtime / 1000)));
	h.fill(0x20, 148, 156); // the checksum counts its own field as spaces
	h[156] = 0x30; // '0': a regular file
	put(h, 257, 6, 'ustar\0');
	put(h, 263, 2, '00');
	put(h, 345, 155, prefix);
	let sum = 0;
	for (const x of h) sum += x;
	put(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
	return h;
}

// files: [{ path: 'calib/day/a.jpg', file: File }]; returns a File named name.
export function tarball(files, name) {
	const parts = [];
	files.forEach(({ path, file }, i) => {
		parts.push(header(path, file.size, file.lastModified || 0, i), file);
		const pad = (BLOCK - (file.size % BLOCK)) % BLOCK;
		if (pad) parts.push(new Uint8Array(pad));
	});
	parts.push(new Uint8Array(2 * BLOCK)); // the end: two zero blocks
	return new File(parts, name, { type: 'application/x-tar' });
}

// The files under dropped folders: DataTransferItem.webkitGetAsEntry()
// gives entries; a directory reader answers in batches until an empty one.
export async function droppedFiles(items) {
	const out = [];
	const walk = async (entry, dir) => {
		if (entry.isFile) {
			const file = await new Promise((res, rej) => entry.file(res, rej));
			out.push({ path: dir + entry.name, file });
		} else if (entry.isDirectory) {
			const reader = entry.createReader();
			for (;;) {
				const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
				if (!batch.length) break;
				for (const e of batch) await walk(e, `${dir}${entry.name}/`);
			}
		}
	};
	const entries = [...items].map((it) => it.webkitGetAsEntry && it.webkitGetAsEntry()).filter(Boolean);
	for (const e of entries) await walk(e, '');
	return out;
}
