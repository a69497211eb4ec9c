using Bridge.Internal;

namespace Bridge.Tests.Support;

/// <summary>
/// A tiny worker that speaks frames on fds 3/4 and can misbehave on demand: a Python script run by
/// Debian's <c>/usr/bin/python3</c> (it has msgpack), passed with <c>-c</c> through
/// <see cref="PoolCoreOptions.PythonArgs"/> (the pool's trailing <c>-m dotbridge._worker</c> ends
/// up in its <c>sys.argv</c>, ignored).
/// </summary>
/// <remarks>
/// <para>Each TASK payload (encoding 1) is an array of calls; the first call's first element picks
/// the behaviour: <c>"echo"</c> (default) answers the payload itself, <c>"pid"</c> answers
/// <c>[pid]</c>, <c>"fail"</c> answers an ERROR, <c>"sleep"</c> sleeps the second element's
/// seconds then echoes, <c>"hang"</c> never answers, <c>"crash"</c> exits with code 3,
/// <c>"garbage"</c> writes bytes that are not a frame, <c>"big"</c> answers a bin of the second
/// element's size.</para>
/// <para>Env <c>FAKE_INIT</c>: <c>"fatal"</c> sends FATAL at INIT and exits 1; <c>"exit"</c> exits 5 at INIT.</para>
/// </remarks>
internal static class FakeWorker
{
    /// <summary>The Python that runs the script.</summary>
    public const string Python = "/usr/bin/python3";

    /// <summary>Whether the fake worker can run here (Debian's python3 with msgpack).</summary>
    public static bool Available { get; } = File.Exists(Python) && CanImportMsgpack();

    private const string Script = """
import os, sys, struct, time, msgpack
rfd, wfd = 3, 4
def send(obj):
    b = msgpack.packb(obj, use_bin_type=True)
    data = struct.pack('>I', len(b)) + b
    while data:
        n = os.write(wfd, data)
        data = data[n:]
buf = b''
def frames():
    global buf
    while True:
        while len(buf) >= 4:
            n = struct.unpack('>I', buf[:4])[0]
            if len(buf) < 4 + n:
                break
            body, buf = buf[4:4+n], buf[4+n:]
            yield msgpack.unpackb(body, raw=False)
        d = os.read(rfd, 1 << 16)
        if not d:
            return
        buf += d
init = os.environ.get('FAKE_INIT', '')
for f in frames():
    k = f[0]
    if k == 2:
        if init == 'fatal':
            send([7, {'type': 'builtins.RuntimeError', 'message': 'init failed on purpose', 'traceback': '', 'cause': None, 'kind': 'raised', 'index': None}])
            sys.exit(1)
        if init == 'exit':
            sys.exit(5)
        send([1, 1, 'python', os.getpid()])
    elif k == 3:
        tid, enc, payload = f[1], f[2], f[4]
        first = payload[0] if payload and isinstance(payload[0], list) and payload[0] else ['echo']
        mode = first[0]
        if mode == 'sleep':
            time.sleep(first[1])
        if mode == 'hang':
            time.sleep(3600)
        if mode == 'crash':
            os._exit(3)
        if mode == 'garbage':
            os.write(wfd, b'\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1')
            time.sleep(3600)
        if mode == 'fail':
            send([5, tid, {'type': 'builtins.ValueError', 'message': 'failed on purpose', 'traceback': 'tb', 'cause': None, 'kind': 'raised', 'index': 0}, None])
        elif mode == 'pid':
            send([4, tid, 1, [os.getpid()], 7])
        elif mode == 'big':
            send([4, tid, 1, [b'x' * first[1]], 7])
        else:
            send([4, tid, enc, payload, 7])
    elif k == 6:
        sys.exit(0)
""";

    /// <summary>Pool options that run the fake worker as the Python worker kind.</summary>
    public static PoolCoreOptions Options(int processes = 2, string? init = null, int? maxTasksPerChild = null)
    {
        var env = new Dictionary<string, string>();
        if (init is not null)
            env["FAKE_INIT"] = init;
        return new PoolCoreOptions
        {
            Processes = processes,
            Python = Python,
            PythonArgs = ["-c", Script],
            Env = env,
            MaxTasksPerChild = maxTasksPerChild,
        };
    }

    private static bool CanImportMsgpack()
    {
        try
        {
            using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(Python, ["-c", "import msgpack"]) { RedirectStandardError = true });
            if (p is null || !p.WaitForExit(10_000))
                return false;
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
