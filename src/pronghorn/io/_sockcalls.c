/* pronghorn.io._sockcalls: the compiled build's accept and read of a plain connection,
   without the costs Python's socket methods add to a connection that is new.

   Owns two functions:

   - accept_connection(listen_fd): accept one connection, already non-blocking and
     close-on-exec (accept4 where the system has it), and return (fd, remote): remote is
     (host, port) for TCP, None for a Unix socket. None when nobody is waiting.
   - receive(fd, size): recv up to `size` bytes; None when nothing has arrived yet, b""
     at the end of the stream.

   Why C: `socket._accept()` and `socket.recv()` say "nothing yet" by raising
   BlockingIOError, and an exception made and caught costs several thousand instructions in
   the compiled build (the errno's message decoded, an OSError built and dropped, a
   traceback entry). A new connection meets it twice: its first read usually comes before
   its request has arrived (the handshake's last ACK wakes the listener, the request
   follows), and the last accept of a batch finds the queue empty. Python's accept also
   returns a blocking descriptor, which costs a second system call (ioctl FIONBIO) to make
   non-blocking. Errors other than "nothing yet" raise OSError as Python's socket methods do
   (with the errno's subclass: ConnectionResetError, ...), so callers handle them as before.
   docs/design.md, "The native accept and read", has the measurements. Built only with the
   compiled build (setup.py); the pure build never imports it. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* An IPv4 address in dotted decimal, as inet_ntop writes it (no leading zeros), into `out`
   (16 bytes at least); returns its length. By hand because glibc's inet_ntop formats with
   sprintf: ~1,700 instructions a connection under callgrind, this a few dozen. */
static Py_ssize_t
dotted_quad(const struct in_addr *address, char *out)
{
    const unsigned char *octets = (const unsigned char *)&address->s_addr;
    char *at = out;
    for (int i = 0; i < 4; i++) {
        unsigned int octet = octets[i];
        if (octet >= 100) {
            *at++ = (char)('0' + octet / 100);
            *at++ = (char)('0' + octet / 10 % 10);
        }
        else if (octet >= 10) {
            *at++ = (char)('0' + octet / 10);
        }
        *at++ = (char)('0' + octet % 10);
        if (i < 3) {
            *at++ = '.';
        }
    }
    return at - out;
}

/* A pair of `first` and `second`, whose references it takes; NULL (both dropped) if either
   is NULL, for an error already set, or the tuple cannot be made. Built by hand:
   Py_BuildValue reads its format string on every call (~450 instructions, a connection's
   `(fd, peer)` in a callgrind profile of hello-close). */
static PyObject *
pair_of(PyObject *first, PyObject *second)
{
    PyObject *pair = (first == NULL || second == NULL) ? NULL : PyTuple_New(2);
    if (pair == NULL) {
        Py_XDECREF(first);
        Py_XDECREF(second);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, first);
    PyTuple_SET_ITEM(pair, 1, second);
    return pair;
}

/* (host, port) */
static PyObject *
host_and_port(const char *host, Py_ssize_t length, int port)
{
    PyObject *text = PyUnicode_DecodeASCII(host, length, NULL);
    return text == NULL ? NULL : pair_of(text, PyLong_FromLong(port));
}

/* The peer's address as Python's socket module spells it: the numeric host (getnameinfo,
   NI_NUMERICHOST, so an IPv6 link-local address keeps its "%scope") and the port. None for
   a Unix socket (and any other family). */
static PyObject *
remote_of(const struct sockaddr_storage *addr, socklen_t len)
{
    char host[NI_MAXHOST];
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)addr;
        return host_and_port(host, dotted_quad(&in4->sin_addr, host), ntohs(in4->sin_port));
    }
    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        int failed = getnameinfo((const struct sockaddr *)addr, len, host, sizeof(host), NULL, 0,
                                 NI_NUMERICHOST);
        if (failed) {
            PyErr_Format(PyExc_OSError, "getnameinfo: %s", gai_strerror(failed));
            return NULL;
        }
        return host_and_port(host, (Py_ssize_t)strlen(host), ntohs(in6->sin6_port));
    }
    Py_RETURN_NONE;
}

/* accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC, or accept and two fcntl calls where there is
   no accept4 (macOS). -1 with errno set on failure; nothing is left open then. */
static int
accept_nonblocking(int listen_fd, struct sockaddr_storage *addr, socklen_t *len)
{
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
    return accept4(listen_fd, (struct sockaddr *)addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int fd = accept(listen_fd, (struct sockaddr *)addr, len);
    if (fd < 0) {
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0
        || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
#endif
}

static int
fd_of(PyObject *arg, int *fd)
{
    long value = PyLong_AsLong(arg);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (value < 0 || value > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "not a file descriptor");
        return -1;
    }
    *fd = (int)value;
    return 0;
}

static PyObject *
accept_connection(PyObject *module, PyObject *arg)
{
    int listen_fd;
    if (fd_of(arg, &listen_fd) < 0) {
        return NULL;
    }
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    memset(&addr, 0, sizeof(addr));
    int fd;
    int error;
    Py_BEGIN_ALLOW_THREADS
    fd = accept_nonblocking(listen_fd, &addr, &len);
    error = errno; /* read before the interpreter's lock is taken back */
    Py_END_ALLOW_THREADS
    if (fd < 0) {
        /* EINTR too: the listener is level-triggered, so the reactor is told again. */
        if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) {
            Py_RETURN_NONE;
        }
        errno = error;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *remote = remote_of(&addr, len);
    if (remote == NULL) {
        close(fd);
        return NULL;
    }
    PyObject *result = pair_of(PyLong_FromLong(fd), remote);
    if (result == NULL) {
        close(fd);
    }
    return result;
}

static PyObject *
receive(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "receive(fd, size) takes two arguments");
        return NULL;
    }
    int fd;
    if (fd_of(args[0], &fd) < 0) {
        return NULL;
    }
    Py_ssize_t size = PyLong_AsSsize_t(args[1]);
    if (size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (size <= 0) {
        PyErr_SetString(PyExc_ValueError, "size must be positive");
        return NULL;
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, size);
    if (data == NULL) {
        return NULL;
    }
    ssize_t got;
    for (;;) {
        int saved;
        Py_BEGIN_ALLOW_THREADS
        got = recv(fd, PyBytes_AS_STRING(data), (size_t)size, 0);
        saved = errno;
        Py_END_ALLOW_THREADS
        if (got >= 0) {
            break;
        }
        if (saved == EINTR) {
            /* PEP 475: retry, unless a signal handler raised. */
            if (PyErr_CheckSignals() < 0) {
                Py_DECREF(data);
                return NULL;
            }
            continue;
        }
        Py_DECREF(data);
        if (saved == EAGAIN || saved == EWOULDBLOCK) {
            Py_RETURN_NONE;
        }
        errno = saved;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (got != size && _PyBytes_Resize(&data, got) < 0) {
        return NULL;
    }
    return data;
}

static PyMethodDef sockcalls_methods[] = {
    {"accept_connection", accept_connection, METH_O,
     "accept_connection(listen_fd) -> (fd, (host, port) or None), or None if none waits.\n\n"
     "The descriptor is non-blocking and close-on-exec; other errors raise OSError."},
    {"receive", (PyCFunction)(void (*)(void))receive, METH_FASTCALL,
     "receive(fd, size) -> up to size bytes, b\"\" at the end, or None if none arrived.\n\n"
     "Other errors raise OSError."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef sockcalls_module = {
    PyModuleDef_HEAD_INIT,
    "pronghorn.io._sockcalls",
    "The compiled build's accept and read of a plain connection (see the C source).",
    -1,
    sockcalls_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__sockcalls(void)
{
    return PyModule_Create(&sockcalls_module);
}
