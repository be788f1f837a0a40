/*
 * onnx_init: initializers (TensorProto, and the values of a sparse one).
 * An initializer is kept as byte ranges into the file: its name, dims and
 * data type are read, its data is skipped by length and only checked
 * against its dims (onnx.checker's rules plus onnxruntime's sizes).
 * External data is recorded, never opened; a location outside the model's
 * directory is refused.  Also the StringStringEntryProto reader that
 * external_data and metadata_props share.
 */
#include "conversion/onnx_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

/* --- small messages through protobuf-c --------------------------------------- */
int onnx_parse_kv(struct onnx_model *m, const struct pbf *f, size_t maxlen,
		    struct onnx_kv *kv, const char *what, struct kiln_err *err)
{
	if (f->len > maxlen)
		return kiln_errf(err, KILN_ETOOBIG, "model",
				 "a %s entry is %zu bytes (limit %zu)", what,
				 f->len, maxlen);
	Onnx__StringStringEntryProto *e =
		onnx__string_string_entry_proto__unpack(NULL, f->len, f->data);
	if (e == NULL)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: a malformed %s entry", what);
	const char *k = e->key ? e->key : "";
	const char *v = e->value ? e->value : "";
	kv->key = onnx_text_copy(m, (const uint8_t *)k, strlen(k));
	kv->value = onnx_text_copy(m, (const uint8_t *)v, strlen(v));
	onnx__string_string_entry_proto__free_unpacked(e, NULL);
	if (kv->key == NULL || kv->value == NULL)
		return onnx_oom(err);
	return 0;
}


/* --- initializers -------------------------------------------------------------- */

/* Bits one element takes in raw_data, by TensorProto.DataType (onnx.proto:
 * "raw_data ... fixed-width, little-endian"; the 4-bit types are packed two
 * to a byte).  0: no fixed width (string) or a type this table predates. */
static const uint8_t elem_bits[] = {
	0, 32, 8, 8, 16, 16, 32, 64, 0, 8, 16, 64, 32, 64, 64, 128, 16,
	8, 8, 8, 8, 4, 4, 4,
};

/* Values one typed-field entry holds for an element: complex numbers take
 * two floats/doubles; the 4-bit types pack two elements per int32_data
 * entry (onnx.proto, int32_data), which count_for() handles. */
static uint64_t count_for(int dt, uint64_t nelem)
{
	if (dt == 14 || dt == 15)
		return nelem * 2;
	if (dt == 21 || dt == 22 || dt == 23)
		return (nelem + 1) / 2;
	return nelem;
}

/* Entries in one occurrence of a typed data field: packed fixed-width
 * payloads by length, packed varints by their last bytes, strings one each. */
static uint64_t typed_count(const struct pbf *f)
{
	if (f->wt != 2 || f->num == 6)
		return 1;
	if (f->num == 4)
		return f->len / 4;
	if (f->num == 10)
		return f->len / 8;
	uint64_t n = 0;
	for (size_t i = 0; i < f->len; i++)
		n += f->data[i] < 0x80;
	return n;
}

/* The data an initializer holds must be what its dims say: a file claiming
 * 2^62 elements over 16 bytes would make every reader that trusts dims
 * (the toolchains, onnxruntime's "size does not match" check, our own
 * const folding) misbehave.  Checks what onnx.checker checks (one value
 * field, none for 0 elements, no strings in raw_data) plus the sizes that
 * onnxruntime's tensor unpacking enforces, with the product of dims
 * checked for overflow. */
static int check_init_size(const struct onnx_model *m, const struct onnx_init *in,
			   uint64_t nvals, uint32_t nfields, struct kiln_err *err)
{
	char name[100];
	onnx_tensor_name_copy(m, in->tensor, name, sizeof(name));
	uint64_t nelem = 1;
	bool zero = false, big = false;
	for (int k = 0; k < in->ndims; k++) {
		if (in->dims[k] < 0)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "initializer '%.80s' has dim %d = %lld; dims of stored data must be >= 0",
					 name, k, (long long)in->dims[k]);
		zero = zero || in->dims[k] == 0;
	}
	/* Past ONNX_MAX_INIT_ELEMS no file holds the data (and bytes =
	 * elements x 16 must not wrap), so stop multiplying there. */
	for (int k = 0; !zero && !big && k < in->ndims; k++)
		big = __builtin_mul_overflow(nelem, (uint64_t)in->dims[k], &nelem) ||
		      nelem > ONNX_MAX_INIT_ELEMS;
	if (zero)
		nelem = 0;
	int dt = in->data_type;
	const char *tn = onnx_elem_type_name(dt);
	if (big) {
		char dims[160];
		size_t o = 0;
		for (int k = 0; k < in->ndims && o < sizeof(dims) - 24; k++)
			o += (size_t)snprintf(dims + o, sizeof(dims) - o, "%s%lld",
					      k ? ", " : "", (long long)in->dims[k]);
		return kiln_errf(err, KILN_EINVAL, "model",
				 "initializer '%.80s' claims dims [%s], more than 2^50 elements, over %llu bytes of data: its dims are wrong",
				 name, dims, (unsigned long long)in->nbytes);
	}
	if (in->external) {
		uint64_t bits = (size_t)dt < sizeof(elem_bits) ? elem_bits[dt] : 0;
		uint64_t want = (nelem * bits + 7) / 8;
		if (bits && in->ext_length > 0 && (uint64_t)in->ext_length != want)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "initializer '%.80s' is %llu elements of %s (%llu bytes) but its external data length is %lld",
					 name, (unsigned long long)nelem, tn,
					 (unsigned long long)want, (long long)in->ext_length);
		return 0;
	}
	int nset = __builtin_popcount(nfields);
	if (nelem == 0 && nset != 0)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "initializer '%.80s' has 0 elements but holds data", name);
	if (nelem == 0)
		return 0;
	if (nset != 1)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "initializer '%.80s' (%llu elements) must hold its values in exactly one data field; it has %d",
				 name, (unsigned long long)nelem, nset);
	if (nfields & (1u << 9)) {
		if (dt == 8)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "initializer '%.80s' stores strings in raw_data, which ONNX does not allow",
					 name);
		uint64_t bits = (size_t)dt < sizeof(elem_bits) ? elem_bits[dt] : 0;
		uint64_t want = (nelem * bits + 7) / 8;
		if (bits && in->rawlen != want)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "initializer '%.80s' is %llu elements of %s (%llu bytes) but holds %zu bytes of raw data",
					 name, (unsigned long long)nelem, tn,
					 (unsigned long long)want, in->rawlen);
		return 0;
	}
	uint64_t want = count_for(dt, nelem);
	if (nvals != want)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "initializer '%.80s' is %llu elements of %s but holds %llu values",
				 name, (unsigned long long)nelem, tn,
				 (unsigned long long)nvals);
	return 0;
}
int onnx_parse_init(struct onnx_model *m, const uint8_t *p, size_t len,
		      struct onnx_init *in, struct kiln_err *err)
{
	struct pbr r = { p, p + len };
	struct pbf f;
	int rc;
	char why[160];
	const uint8_t *nm = NULL;
	size_t nml = 0;
	int nd = 0;
	uint64_t nvals = 0;      /* values in the typed fields (float_data, ...) */
	uint32_t nfields = 0;    /* bit f: data field f is present */
	in->body = p;
	in->bodylen = len;
	while ((rc = pb_next(&r, &f, "TensorProto", err)) > 0) {
		switch (f.num) {
		case 1:
			if (f.wt == 0) {
				nd++;
			} else if (f.wt == 2) {
				const uint8_t *q = f.data, *e = f.data + f.len;
				uint64_t v;
				while (q < e) {
					if (pb_varint(&q, e, &v) != 0)
						return kiln_errf(err, KILN_EINVAL, "model",
								 "not an ONNX model: bad packed dims in a TensorProto");
					nd++;
				}
			}
			if (nd > ONNX_MAX_RANK)
				return kiln_errf(err, KILN_EINVAL, "model",
						 "an initializer has more than %d dims",
						 ONNX_MAX_RANK);
			break;
		case 2:
			if ((rc = onnx_want_wt(&f, 0, "TensorProto", "data_type", err)))
				return rc;
			in->data_type = (int)f.v;
			onnx_note_type(m, (int64_t)f.v);
			break;
		case 4: case 5: case 6: case 7: case 10: case 11:
			in->nbytes += f.wt == 2 ? f.len : 8;
			/* an empty field counts as absent, as onnx.checker
			 * counts field().size() */
			if (typed_count(&f) > 0) {
				nvals += typed_count(&f);
				nfields |= 1u << f.num;
			}
			break;
		case 8:
			if ((rc = onnx_want_wt(&f, 2, "TensorProto", "name", err)))
				return rc;
			nm = f.data;
			nml = f.len;
			break;
		case 9:
			if ((rc = onnx_want_wt(&f, 2, "TensorProto", "raw_data", err)))
				return rc;
			in->raw = f.data;
			in->rawlen = f.len;
			in->nbytes += f.len;
			if (f.len > 0)
				nfields |= 1u << 9;
			break;
		case 13: {
			if ((rc = onnx_want_wt(&f, 2, "TensorProto", "external_data", err)))
				return rc;
			struct onnx_kv kv;
			if ((rc = onnx_parse_kv(m, &f, 8192, &kv, "external_data", err)))
				return rc;
			if (strcmp(kv.key, "location") == 0) {
				if (!onnx_name_ok((const uint8_t *)kv.value, strlen(kv.value),
					     why, sizeof(why)))
					return onnx_bad_name(err, why, "an external data location");
				in->location = kv.value;
			} else if (strcmp(kv.key, "offset") == 0)
				in->ext_offset = strtoll(kv.value, NULL, 10);
			else if (strcmp(kv.key, "length") == 0)
				in->ext_length = strtoll(kv.value, NULL, 10);
			break;
		}
		case 14:
			if (f.wt == 0 && f.v == 1)
				in->external = true;
			break;
		}
	}
	if (rc < 0)
		return rc;
	if (nm == NULL || nml == 0)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "an initializer has no name");
	if (!onnx_name_ok(nm, nml, why, sizeof(why)))
		return onnx_bad_name(err, why, "an initializer name");
	if ((rc = onnx_intern(m, nm, nml, &in->tensor, err)))
		return rc;
	in->ndims = nd;
	in->dims = onnx_arena_alloc(m, (nd + 1) * sizeof(int64_t));
	if (in->dims == NULL)
		return onnx_oom(err);
	nd = 0;
	r = (struct pbr){ p, p + len };
	while ((rc = pb_next(&r, &f, "TensorProto", err)) > 0) {
		if (f.num != 1)
			continue;
		if (f.wt == 0) {
			in->dims[nd++] = (int64_t)f.v;
		} else if (f.wt == 2) {
			const uint8_t *q = f.data, *e = f.data + f.len;
			uint64_t v;
			while (q < e && pb_varint(&q, e, &v) == 0)
				in->dims[nd++] = (int64_t)v;
		}
	}
	if (in->location != NULL)
		in->external = true;
	if ((rc = check_init_size(m, in, nvals, nfields, err)))
		return rc;
	if (in->location != NULL) {
		const char *s = in->location;
		in->escapes = s[0] == '/' || s[0] == '\\' || strstr(s, ":") != NULL;
		/* a ".." path component anywhere, with / or \ separators */
		for (const char *q = s; *q; q++) {
			bool start = q == s || q[-1] == '/' || q[-1] == '\\';
			if (start && q[0] == '.' && q[1] == '.' &&
			    (q[2] == '\0' || q[2] == '/' || q[2] == '\\'))
				in->escapes = true;
		}
		/* Never opened either way; but a path out of the model's own
		 * directory is an attack on whoever loads the file next, so
		 * the model is refused rather than stored. */
		if (in->escapes) {
			char shown[64], tn[64];
			onnx_show((const uint8_t *)s, strlen(s), shown, sizeof(shown));
			return kiln_errf(err, KILN_EINVAL, "model",
					 "initializer '%s' keeps its data in '%s', outside the model's directory; external data must be a plain relative file name",
					 onnx_tensor_name_copy(m, in->tensor, tn, sizeof(tn)), shown);
		}
	} else if (in->external) {
		char tn[ONNX_NAME_MAX + 1];
		return kiln_errf(err, KILN_EINVAL, "model",
				 "initializer '%s' says its data is external but names no location",
				 onnx_tensor_name_copy(m, in->tensor, tn, sizeof(tn)));
	}
	return 0;
}
