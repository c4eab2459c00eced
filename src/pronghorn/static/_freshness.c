/* pronghorn.static._freshness: the compiled build's check that a kept static entry's files
   are still the ones it describes.

   Owns one function:

   - files_unchanged(path, identity, siblings, parent, parent_identity): True when `path`
     still has `identity` (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns, following
     symlinks), and each sibling in `siblings`, a tuple of (path, identity or None), still
     has its identity, or, where the identity is None, still does not exist: the folder
     `parent` still has `parent_identity` (when given), or else faccessat F_OK with
     AT_EACCESS, as Python's os.access(effective_ids=True), fails. False on any difference,
     on any error of a stat, and whenever a number cannot be compared (the full path then
     decides, which is always right).

   It is `pronghorn.static.cache.files_unchanged` without Python's stat result: os.stat
   builds a twenty-field result with the three times as floats and as nanosecond integers
   (each a multiplication and an addition of Python integers), and os.access parses its
   arguments by keyword, for every cached static request. Here the same system calls run in
   one call with the interpreter's lock released once. The rules that make the comparison
   sufficient are in cache.py's docstring; this file only does the comparison. Built only
   with the compiled build (setup.py); the pure build never imports it. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An entry probes its file's precompressed siblings (pronghorn.static.codings: ".br",
   ".gz"); a few more are allowed for, more than that is refused as a bug. */
#define MAX_SIBLINGS 8

#define IDENTITY_FIELDS 5

/* What a stat must find: the identity's five numbers as 64-bit patterns. */
typedef struct {
    const char *path;
    int absent;              /* 1: the path must not exist (its identity was None) */
    unsigned long long want[IDENTITY_FIELDS];
} Expected;

/* The 64-bit pattern of a Python int, unsigned or signed; -1 with no exception set when it
   fits in neither (a number that cannot match: the caller answers "changed"). */
static int
bits_of(PyObject *number, unsigned long long *out)
{
    if (!PyLong_Check(number)) {
        PyErr_SetString(PyExc_TypeError, "an identity holds integers");
        return -2;
    }
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(number, &overflow);
    if (value == -1 && PyErr_Occurred()) {
        return -2;
    }
    if (overflow == 0) {
        *out = (unsigned long long)value;
        return 0;
    }
    if (overflow > 0) {
        unsigned long long big = PyLong_AsUnsignedLongLong(number);
        if (big == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear(); /* wider than 64 bits */
            return -1;
        }
        *out = big;
        return 0;
    }
    return -1; /* below -2**63 */
}

/* Fill `expected` from (path, identity or None). 0, -1 (cannot match), -2 (exception). */
static int
expect(PyObject *path, PyObject *identity, int may_be_absent, Expected *expected)
{
    if (!PyBytes_Check(path)) {
        PyErr_SetString(PyExc_TypeError, "a path is bytes");
        return -2;
    }
    expected->path = PyBytes_AS_STRING(path);
    if (strlen(expected->path) != (size_t)PyBytes_GET_SIZE(path)) {
        return -1; /* a NUL inside: no file has that name */
    }
    expected->absent = 0;
    if (identity == Py_None && may_be_absent) {
        expected->absent = 1;
        return 0;
    }
    if (!PyTuple_Check(identity) || PyTuple_GET_SIZE(identity) != IDENTITY_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "an identity is a tuple of five integers");
        return -2;
    }
    int result = 0;
    for (Py_ssize_t i = 0; i < IDENTITY_FIELDS; i++) {
        int got = bits_of(PyTuple_GET_ITEM(identity, i), &expected->want[i]);
        if (got == -2) {
            return -2;
        }
        if (got == -1) {
            result = -1; /* keep checking the types, so a bad argument still raises */
        }
    }
    return result;
}

#ifdef __APPLE__
#define MTIME(st) ((st).st_mtimespec)
#define CTIME(st) ((st).st_ctimespec)
#else
#define MTIME(st) ((st).st_mtim)
#define CTIME(st) ((st).st_ctim)
#endif

/* A timestamp in nanoseconds as Python's st_*_ns gives it; 0 when it overflows 64 bits
   (then *fits is cleared, and the file counts as changed). */
static unsigned long long
nanoseconds(struct timespec when, int *fits)
{
    long long seconds = (long long)when.tv_sec;
    long long total;
    if (__builtin_mul_overflow(seconds, 1000000000LL, &total)
        || __builtin_add_overflow(total, (long long)when.tv_nsec, &total)) {
        *fits = 0;
        return 0;
    }
    return (unsigned long long)total;
}

/* Runs without the interpreter's lock: system calls and comparisons only. */
static int
same_on_disk(const Expected *expected)
{
    if (expected->absent) {
        return faccessat(AT_FDCWD, expected->path, F_OK, AT_EACCESS) != 0;
    }
    struct stat st;
    if (stat(expected->path, &st) != 0) {
        return 0;
    }
    int fits = 1;
    unsigned long long found[IDENTITY_FIELDS] = {
        (unsigned long long)st.st_dev,
        (unsigned long long)st.st_ino,
        (unsigned long long)(long long)st.st_size,
        nanoseconds(MTIME(st), &fits),
        nanoseconds(CTIME(st), &fits),
    };
    return fits && memcmp(found, expected->want, sizeof(found)) == 0;
}

static PyObject *
files_unchanged(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "files_unchanged(path, identity, siblings, parent, parent_identity)");
        return NULL;
    }
    PyObject *siblings = args[2];
    if (!PyTuple_Check(siblings)) {
        PyErr_SetString(PyExc_TypeError, "siblings is a tuple of (path, identity or None)");
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(siblings);
    if (count > MAX_SIBLINGS) {
        PyErr_SetString(PyExc_ValueError, "more siblings than an entry probes");
        return NULL;
    }
    /* expected[0] is the file, then the siblings in order; `folder` the parent, if given. */
    Expected expected[1 + MAX_SIBLINGS];
    Expected folder;
    int comparable = 1;
    int absent = 0;
    int got = expect(args[0], args[1], 0, &expected[0]);
    if (got == -2) {
        return NULL;
    }
    comparable = comparable && got == 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyTuple_GET_ITEM(siblings, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "a sibling is (path, identity or None)");
            return NULL;
        }
        got = expect(PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1), 1, &expected[1 + i]);
        if (got == -2) {
            return NULL;
        }
        comparable = comparable && got == 0;
        absent = absent || expected[1 + i].absent;
    }
    /* The folder's shortcut: without it (None, or a number no stat gives), each absent
       sibling is probed. */
    int have_folder = 0;
    if (args[4] != Py_None) {
        got = expect(args[3], args[4], 0, &folder);
        if (got == -2) {
            return NULL;
        }
        have_folder = got == 0 && absent;
    }
    else if (!PyBytes_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "a path is bytes");
        return NULL;
    }
    if (!comparable) {
        Py_RETURN_FALSE;
    }
    /* The paths are the buffers of bytes objects the caller holds: valid without the lock.
       Released once for all the system calls, as os.stat releases it for each. In the order
       of the Python check: the file, the folder, the siblings. */
    int same = 1;
    Py_BEGIN_ALLOW_THREADS
    same = same_on_disk(&expected[0]);
    int absent_checked = same && have_folder && same_on_disk(&folder);
    for (Py_ssize_t i = 1; same && i <= count; i++) {
        if (!(expected[i].absent && absent_checked)) {
            same = same_on_disk(&expected[i]);
        }
    }
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(same);
}

static PyMethodDef freshness_methods[] = {
    {"files_unchanged", (PyCFunction)(void (*)(void))files_unchanged, METH_FASTCALL,
     "files_unchanged(path, identity, siblings, parent, parent_identity) -> bool: still the "
     "files an entry saw."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef freshness_module = {
    PyModuleDef_HEAD_INIT,
    "pronghorn.static._freshness",
    "The compiled build's check that a kept static entry's files are unchanged (see the C "
    "source).",
    -1,
    freshness_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__freshness(void)
{
    return PyModule_Create(&freshness_module);
}
