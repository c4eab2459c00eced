/* pronghorn.http._headscan: the compiled build's fast path for a whole, plain request head.

   Owns one function, scan_head(data, pos, bounds), and the table of field names it hands
   out again (field_name). It reads the request head that starts at `pos` of `data`, and
   answers only when that head is plain enough that the answer is certain: a method of the seven llhttp is given as sent (GET HEAD POST PUT DELETE OPTIONS
   PATCH), an origin-form target of RFC 3986 characters, HTTP/1.1 or HTTP/1.0, CRLF line
   ends, token field names, values of visible ASCII, spaces and tabs, within the size limits,
   with at most one each of Host, Connection, Expect, Content-Type and a plain-digit
   Content-Length, and no Transfer-Encoding or Upgrade. For anything else it returns None and
   the parser takes its general path (llhttp and pronghorn.http.parser's checks), which
   decides every error: this module refuses nothing, so it cannot refuse differently.
   tests/http/test_native_scan.py holds the two paths to the same events.

   Why C: parsing was a third of the compiled build's instructions a request, most of it
   llhttp's callbacks into Python, one per piece of the head (docs/design.md, "The native
   head scan"). Built only with the compiled build (setup.py); the pure build never
   imports it. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* What scan_head returns: (stop, method, target, version, fields, field count, index of Host
   in fields or -1, Connection value, Expect value, Content-Length or None). */
#define RESULT_SIZE 10

/* A token character (RFC 9110 section 5.6.2). */
static unsigned char is_tchar[256];
/* A character of a field value llhttp takes in strict mode: VCHAR, SP, HTAB (obs-text
   is left to the general path). */
static unsigned char is_vchar[256];
/* A character of an origin-form target: RFC 3986 pchar, "/", "?" and "%" ("#" is left to
   the general path, which refuses a fragment). */
static unsigned char is_target_char[256];

static PyObject *method_names[7];
static PyObject *version_11;
static PyObject *version_10;

static const char *const METHODS[7] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};

static void
fill_tables(void)
{
    const char *tchars = "!#$%&'*+-.^_`|~";
    const char *target_chars = "-._~!$&'()*+,;=:@/?%";
    for (int c = '0'; c <= '9'; c++) {
        is_tchar[c] = is_target_char[c] = 1;
    }
    for (int c = 'a'; c <= 'z'; c++) {
        is_tchar[c] = is_target_char[c] = 1;
        is_tchar[c - 32] = is_target_char[c - 32] = 1;
    }
    for (const char *p = tchars; *p; p++) {
        is_tchar[(unsigned char)*p] = 1;
    }
    for (const char *p = target_chars; *p; p++) {
        is_target_char[(unsigned char)*p] = 1;
    }
    for (int c = 0x20; c <= 0x7e; c++) {
        is_vchar[c] = 1;
    }
    is_vchar['\t'] = 1;
}

/* The method at the start of `p` (followed by its space), as an index into METHODS, or -1;
   `*length` is set to the method's length. */
static int
plain_method(const char *p, Py_ssize_t available, Py_ssize_t *length)
{
    for (int i = 0; i < 7; i++) {
        Py_ssize_t n = (Py_ssize_t)strlen(METHODS[i]);
        if (available > n && p[n] == ' ' && memcmp(p, METHODS[i], (size_t)n) == 0) {
            *length = n;
            return i;
        }
    }
    return -1;
}

/* The first CR LF CR LF in the `size` bytes at `p`, or NULL (memmem is not everywhere). */
static const char *
find_blank_line(const char *p, Py_ssize_t size)
{
    const char *end = p + size;
    while (end - p >= 4) {
        const char *cr = memchr(p, '\r', (size_t)(end - p - 3));
        if (cr == NULL) {
            return NULL;
        }
        if (cr[1] == '\n' && cr[2] == '\r' && cr[3] == '\n') {
            return cr;
        }
        p = cr + 1;
    }
    return NULL;
}

/* Whether the `n` bytes at `p` spell `lower` (lower case ASCII) in any case. */
static int
name_is(const char *p, Py_ssize_t n, const char *lower)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (lower[i] == '\0' || (p[i] | 0x20) != lower[i]) {
            return 0;
        }
    }
    return lower[n] == '\0';
}

/* Field names seen lately, each kept as one bytes object: a client sends the same names in
   every request, and a name handed out again is neither allocated nor hashed again (bytes
   keep their hash, and the WSGI environ looks each name up in a dict). A slot is chosen by
   the name's length and bytes; a different name in the same slot replaces it, so the table
   stays NAME_SLOTS names whatever a client sends. Only touched with the GIL held. */
#define NAME_SLOTS 64
static PyObject *known_names[NAME_SLOTS];

static PyObject *
field_name(const char *name, Py_ssize_t size)
{
    size_t slot = (size_t)size * 31u;
    for (Py_ssize_t i = 0; i < size; i++) {
        slot = slot * 33u + (unsigned char)name[i];
    }
    PyObject **known = &known_names[slot % NAME_SLOTS];
    if (*known != NULL && PyBytes_GET_SIZE(*known) == size &&
        memcmp(PyBytes_AS_STRING(*known), name, (size_t)size) == 0) {
        return Py_NewRef(*known);
    }
    PyObject *fresh = PyBytes_FromStringAndSize(name, size);
    if (fresh != NULL) {
        Py_XSETREF(*known, Py_NewRef(fresh));
    }
    return fresh;
}

/* The framing fields the parser reads, and the two that send a head to the general path. */
enum framing { OTHER, HOST, CONNECTION, EXPECT, CONTENT_TYPE, CONTENT_LENGTH, GENERAL };

static enum framing
framing_of(const char *name, Py_ssize_t n)
{
    switch (n) {
    case 4:
        return name_is(name, n, "host") ? HOST : OTHER;
    case 6:
        return name_is(name, n, "expect") ? EXPECT : OTHER;
    case 7:
        return name_is(name, n, "upgrade") ? GENERAL : OTHER;
    case 10:
        return name_is(name, n, "connection") ? CONNECTION : OTHER;
    case 12:
        return name_is(name, n, "content-type") ? CONTENT_TYPE : OTHER;
    case 14:
        return name_is(name, n, "content-length") ? CONTENT_LENGTH : OTHER;
    case 17:
        return name_is(name, n, "transfer-encoding") ? GENERAL : OTHER;
    default:
        return OTHER;
    }
}

/* A field's value as read, for the ones the parser takes once at most (Connection, Expect). */
typedef struct {
    const char *at; /* NULL: not seen */
    Py_ssize_t size;
} once;

/* Keeps a value in `slot`; 0 when the field came before (the general path decides). */
static int
take_once(once *slot, const char *at, Py_ssize_t size)
{
    if (slot->at != NULL) {
        return 0;
    }
    slot->at = at;
    slot->size = size;
    return 1;
}

/* The head's field lines, from `p` to the empty line at `end`, appended to `fields`.
   Returns 1 when every line is plain, 0 when the general path must read the head, -1 on a
   Python error. The slots of `result` from 5 on are set. */
static int
scan_fields(const char *p, const char *end, Py_ssize_t max_fields, Py_ssize_t max_field_size,
            PyObject *fields, PyObject *result)
{
    Py_ssize_t count = 0, host_index = -1;
    once connection = {NULL, 0}, expect = {NULL, 0};
    long long content_length = -1;
    int content_types = 0;
    while (p < end) {
        const char *name = p;
        while (is_tchar[(unsigned char)*p]) {
            p++;
        }
        Py_ssize_t name_size = p - name;
        if (name_size == 0 || *p != ':') {
            return 0; /* obs-fold, whitespace before ":", a bad name: llhttp decides */
        }
        p++;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        const char *value = p;
        while (is_vchar[(unsigned char)*p]) {
            p++;
        }
        if (p[0] != '\r' || p[1] != '\n') {
            return 0;
        }
        /* llhttp hands the value over with the whitespace after it: the limit counts it. */
        Py_ssize_t raw_size = p - value;
        const char *value_end = p;
        p += 2;
        if (++count > max_fields || name_size + raw_size > max_field_size) {
            return 0; /* the general path answers 431 */
        }
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t')) {
            value_end--;
        }
        if (memchr(name, '_', (size_t)name_size) != NULL) {
            continue; /* dropped (pronghorn.http.parser.on_header); counted all the same */
        }
        Py_ssize_t value_size = value_end - value;
        switch (framing_of(name, name_size)) {
        case OTHER:
            break;
        case GENERAL:
            return 0;
        case HOST:
            if (host_index >= 0) {
                return 0;
            }
            host_index = PyList_GET_SIZE(fields);
            break;
        case CONNECTION:
            if (!take_once(&connection, value, value_size)) {
                return 0;
            }
            break;
        case EXPECT:
            if (!take_once(&expect, value, value_size)) {
                return 0;
            }
            break;
        case CONTENT_TYPE:
            if (content_types++) {
                return 0;
            }
            break;
        case CONTENT_LENGTH:
            /* Plain digits only, nothing after them, at most 18 (no overflow). */
            if (content_length >= 0 || raw_size == 0 || raw_size > 18) {
                return 0;
            }
            content_length = 0;
            for (const char *d = value; d < value + raw_size; d++) {
                if (*d < '0' || *d > '9') {
                    return 0;
                }
                content_length = content_length * 10 + (*d - '0');
            }
            break;
        }
        PyObject *field = PyTuple_New(2);
        if (field == NULL) {
            return -1;
        }
        PyObject *name_bytes = field_name(name, name_size);
        PyObject *value_bytes = PyBytes_FromStringAndSize(value, value_size);
        if (name_bytes == NULL || value_bytes == NULL) {
            Py_XDECREF(name_bytes);
            Py_XDECREF(value_bytes);
            Py_DECREF(field);
            return -1;
        }
        PyTuple_SET_ITEM(field, 0, name_bytes);
        PyTuple_SET_ITEM(field, 1, value_bytes);
        int failed = PyList_Append(fields, field);
        Py_DECREF(field);
        if (failed) {
            return -1;
        }
    }
    PyObject *items[RESULT_SIZE - 5] = {
        PyLong_FromSsize_t(count),
        PyLong_FromSsize_t(host_index),
        PyBytes_FromStringAndSize(connection.at, connection.size),
        PyBytes_FromStringAndSize(expect.at, expect.size),
        content_length >= 0 ? PyLong_FromLongLong(content_length) : Py_NewRef(Py_None),
    };
    int failed = 0;
    for (int i = 0; i < RESULT_SIZE - 5; i++) {
        if (items[i] == NULL) {
            failed = 1;
        }
        else {
            PyTuple_SET_ITEM(result, 5 + i, items[i]);
        }
    }
    return failed ? -1 : 1;
}

/* Reads the bounds tuple: (max_request_line, max_fields, max_field_size, max_head). */
static int
read_bounds(PyObject *bounds, Py_ssize_t out[4])
{
    if (!PyTuple_Check(bounds) || PyTuple_GET_SIZE(bounds) != 4) {
        PyErr_SetString(PyExc_TypeError, "bounds must be a tuple of four ints");
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        out[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(bounds, i));
        if (out[i] == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    return 0;
}

static PyObject *
scan_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan_head(data: bytes, pos: int, bounds: tuple)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t bound[4];
    if ((pos == -1 && PyErr_Occurred()) || read_bounds(args[2], bound) < 0) {
        return NULL;
    }
    Py_ssize_t max_request_line = bound[0], max_fields = bound[1];
    Py_ssize_t max_field_size = bound[2], max_head = bound[3];
    const char *data = PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (pos < 0 || pos >= size) {
        Py_RETURN_NONE;
    }
    const char *start = data + pos;
    Py_ssize_t available = size - pos;
    /* The head ends at the first empty line; the bytes after it are not read. */
    const char *blank = find_blank_line(start, available);
    if (blank == NULL || blank + 4 - start > max_head) {
        Py_RETURN_NONE; /* not all here yet, or too large: the general path */
    }
    const char *stop = blank + 4;
    Py_ssize_t method_size;
    int method = plain_method(start, available, &method_size);
    if (method < 0) {
        Py_RETURN_NONE;
    }
    const char *target = start + method_size + 1;
    const char *p = target;
    if (*p != '/') {
        Py_RETURN_NONE; /* asterisk- and absolute-form: the general path */
    }
    while (is_target_char[(unsigned char)*p]) {
        p++;
    }
    Py_ssize_t target_size = p - target;
    /* " HTTP/1.x\r\n" after the target: the bytes up to the empty line always hold it,
       as the scans stop at a CR and the head ends in CR LF CR LF. */
    if (stop - p < 11 || memcmp(p, " HTTP/1.", 8) != 0 || (p[8] != '1' && p[8] != '0') ||
        p[9] != '\r' || p[10] != '\n') {
        Py_RETURN_NONE;
    }
    if (p + 9 - start > max_request_line) {
        Py_RETURN_NONE; /* the general path answers 414 */
    }
    PyObject *version = p[8] == '1' ? version_11 : version_10;
    PyObject *result = PyTuple_New(RESULT_SIZE);
    PyObject *fields = PyList_New(0);
    if (result == NULL || fields == NULL) {
        Py_XDECREF(result);
        Py_XDECREF(fields);
        return NULL;
    }
    int plain = scan_fields(p + 11, stop - 2, max_fields, max_field_size, fields, result);
    if (plain <= 0) {
        Py_DECREF(fields);
        Py_DECREF(result); /* slots still NULL are skipped by the tuple's dealloc */
        if (plain < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    PyObject *stop_index = PyLong_FromSsize_t(stop - data);
    PyObject *target_bytes = PyBytes_FromStringAndSize(target, target_size);
    if (stop_index == NULL || target_bytes == NULL) {
        Py_XDECREF(stop_index);
        Py_XDECREF(target_bytes);
        Py_DECREF(fields);
        Py_DECREF(result);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, stop_index);
    PyTuple_SET_ITEM(result, 1, Py_NewRef(method_names[method]));
    PyTuple_SET_ITEM(result, 2, target_bytes);
    PyTuple_SET_ITEM(result, 3, Py_NewRef(version));
    PyTuple_SET_ITEM(result, 4, fields);
    return result;
}

static PyMethodDef headscan_methods[] = {
    {"scan_head", (PyCFunction)(void (*)(void))scan_head, METH_FASTCALL,
     "scan_head(data, pos, bounds) -> the head's parts, or None for the general path.\n\n"
     "bounds: (max_request_line, max_fields, max_field_size, max_head)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef headscan_module = {
    PyModuleDef_HEAD_INIT,
    "pronghorn.http._headscan",
    "The compiled build's fast path for a whole, plain request head (see the C source).",
    -1,
    headscan_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__headscan(void)
{
    fill_tables();
    for (int i = 0; i < 7; i++) {
        method_names[i] = PyUnicode_InternFromString(METHODS[i]);
        if (method_names[i] == NULL) {
            return NULL;
        }
    }
    version_11 = PyUnicode_InternFromString("1.1");
    version_10 = PyUnicode_InternFromString("1.0");
    if (version_11 == NULL || version_10 == NULL) {
        return NULL;
    }
    return PyModule_Create(&headscan_module);
}
