using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Bridge.Interop.Native;

namespace Bridge.Interop.SubInterpreters;

/*
 * Design notes (in the spirit of PEP 554's channels)
 *
 * A channel is a named, process-wide FIFO of plain values (the MessagePack value model: null, bool, int, float,
 * str, bytes, lists, dicts) shared by every sub-interpreter of this process and by .NET code. Python code in a
 * sub-interpreter sees the built-in module `_dotbridge_channels` (installed by SubInterpreter.Create):
 *
 *     import _dotbridge_channels as channels
 *     channels.send("results", {"i": 3, "data": b"..."})     # never blocks (unbounded)
 *     item = channels.recv("jobs", 5.0)                      # blocks up to 5 s (None/negative: forever); TimeoutError
 *     shm = channels.attach("db_...")                        # a SharedMemory segment by name: shm.buf, zero copy
 *
 * Bytes and buffers without copies: big data goes in a shared memory segment (Bridge's SharedMemorySegment,
 * or the stdlib's SharedMemory; both are files under /dev/shm) and only its name travels; attach() maps it in
 * the interpreter without a resource tracker (the creator owns the unlink).
 * A value is copied out of the sending interpreter into .NET objects at send and rebuilt as new objects of the
 * receiving interpreter at recv: no PyObject crosses, no pickle. bytes cost one memcpy each way. recv releases
 * the receiving interpreter's GIL while it waits, so other threads of that interpreter run.
 * The module's functions are C functions ([UnmanagedCallersOnly]) over static PyMethodDef records (shared
 * read-only data, valid for every interpreter); the module object itself is created per interpreter.
 */

/// <summary>A named FIFO of plain values between sub-interpreters and .NET (PEP 554-style channel).</summary>
/// <remarks>Thread-safe. Channels live for the process; <see cref="Get"/> returns the same channel for the same name.</remarks>
public sealed class InterpreterChannel
{
    private static readonly ConcurrentDictionary<string, InterpreterChannel> s_channels = new();
    private readonly Channel<object?> _items = Channel.CreateUnbounded<object?>();

    private InterpreterChannel(string name) => Name = name;

    /// <summary>The channel's name.</summary>
    public string Name { get; }

    /// <summary>The channel called <paramref name="name"/> (created on first use).</summary>
    /// <param name="name">Any non-empty name.</param>
    /// <returns>The channel.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null or empty.</exception>
    public static InterpreterChannel Get(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return s_channels.GetOrAdd(name, n => new InterpreterChannel(n));
    }

    /// <summary>Queues a plain value (null, bool, numbers, string, byte[], lists, dictionaries). Never blocks.</summary>
    /// <param name="value">The value; an interpreter that receives it gets new objects.</param>
    public void Send(object? value) => _items.Writer.TryWrite(value);

    /// <summary>Takes the next value, waiting for one.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The value (plain .NET form: long, double, string, byte[], object?[], Dictionary&lt;object, object?&gt;).</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<object?> ReceiveAsync(CancellationToken cancellationToken = default) => _items.Reader.ReadAsync(cancellationToken);

    /// <summary>Takes the next value if one is queued.</summary>
    /// <param name="value">The value.</param>
    /// <returns>Whether a value was taken.</returns>
    public bool TryReceive(out object? value) => _items.Reader.TryRead(out value);

    /// <summary>Blocks until a value arrives or <paramref name="timeout"/> passes (the Python side's recv).</summary>
    internal bool Receive(TimeSpan timeout, out object? value)
    {
        if (_items.Reader.TryRead(out value)) return true;
        using var cts = timeout == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(timeout);
        try
        {
            value = _items.Reader.ReadAsync(cts.Token).AsTask().GetAwaiter().GetResult();
            return true;
        }
        catch (OperationCanceledException)
        {
            value = null;
            return false;
        }
    }

    // ------------------------------------------------------------------ the Python module

    private static unsafe nint s_methods; // PyMethodDef[3], allocated once, never freed

    /// <summary>Installs `_dotbridge_channels` in the current interpreter's sys.modules (its GIL held).</summary>
    internal static unsafe void InstallModule()
    {
        _ = CPython.ExcTypeError; // resolve now, never inside a C callback (an exception there ends the process)
        _ = CPython.ExcTimeoutError;
        if (s_methods == 0)
        {
            lock (s_channels)
            {
                if (s_methods == 0)
                {
                    const int size = 32; // char* name, PyCFunction, int flags (+pad), char* doc
                    nint defs = (nint)NativeMemory.AllocZeroed(3 * size);
                    WriteDef(defs, "send", (nint)(delegate* unmanaged<nint, nint, nint>)&PySend, "send(name, value): queue a plain value on the named channel");
                    WriteDef(defs + size, "recv", (nint)(delegate* unmanaged<nint, nint, nint>)&PyRecv, "recv(name, timeout=None): take the next value; TimeoutError after timeout seconds");
                    s_methods = defs;
                }
            }
        }
        nint module;
        fixed (byte* n = Libc.Utf8Z("_dotbridge_channels")) module = CPython.PyModule_New(n);
        if (module == 0) throw new InvalidOperationException("PyModule_New(_dotbridge_channels) failed");
        try
        {
            for (int i = 0; i < 2; i++)
            {
                nint def = s_methods + i * 32;
                nint fn = CPython.PyCFunction_NewEx(def, 0, 0);
                int rc = CPython.PyObject_SetAttrString(module, *(byte**)def, fn);
                CPython.Py_DecRef(fn);
                if (rc != 0) throw new InvalidOperationException("could not build _dotbridge_channels");
            }
            nint modules = CPython.PyImport_GetModuleDict(); // borrowed
            fixed (byte* n = Libc.Utf8Z("_dotbridge_channels"))
            {
                if (CPython.PyDict_SetItemString(modules, n, module) != 0) throw new InvalidOperationException("could not register _dotbridge_channels");
            }
        }
        finally
        {
            CPython.Py_DecRef(module);
        }
    }

    private static unsafe void WriteDef(nint at, string name, nint fn, string doc)
    {
        *(nint*)at = (nint)Alloc(name);
        *(nint*)(at + 8) = fn;
        *(int*)(at + 16) = 1; // METH_VARARGS
        *(nint*)(at + 24) = (nint)Alloc(doc);
    }

    private static unsafe byte* Alloc(string s)
    {
        var bytes = Libc.Utf8Z(s);
        byte* p = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
        bytes.CopyTo(new Span<byte>(p, bytes.Length));
        return p;
    }

    [UnmanagedCallersOnly]
    private static unsafe nint PySend(nint self, nint args)
    {
        if (CPython.PyTuple_Size(args) != 2) return RaiseType("send(name, value) takes exactly 2 arguments");
        if (SubInterpreterValues.FromPythonOrNull(CPython.PyTuple_GetItem(args, 0)) is not string { Length: > 0 } name)
        {
            return RaiseType("send(): the channel name must be a non-empty str");
        }
        object? value;
        try
        {
            value = SubInterpreterValues.FromPython(CPython.PyTuple_GetItem(args, 1), 0);
        }
        catch (ArgumentException e)
        {
            return RaiseType(e.Message);
        }
        Get(name).Send(value);
        CPython.Py_IncRef(CPython.None);
        return CPython.None;
    }

    [UnmanagedCallersOnly]
    private static unsafe nint PyRecv(nint self, nint args)
    {
        nint n = CPython.PyTuple_Size(args);
        if (n is < 1 or > 2) return RaiseType("recv(name, timeout=None) takes 1 or 2 arguments");
        if (SubInterpreterValues.FromPythonOrNull(CPython.PyTuple_GetItem(args, 0)) is not string { Length: > 0 } name)
        {
            return RaiseType("recv(): the channel name must be a non-empty str");
        }
        TimeSpan timeout = Timeout.InfiniteTimeSpan;
        if (n == 2)
        {
            object? t = SubInterpreterValues.FromPythonOrNull(CPython.PyTuple_GetItem(args, 1));
            double seconds = t switch { null => -1, double d => d, long l => l, _ => double.NaN };
            if (double.IsNaN(seconds)) return RaiseType("recv(): timeout must be a number or None");
            if (seconds >= 0) timeout = TimeSpan.FromSeconds(seconds);
        }
        var channel = Get(name);
        if (!channel.TryReceive(out object? value))
        {
            nint ts = CPython.PyEval_SaveThread(); // wait without this interpreter's GIL
            bool got = channel.Receive(timeout, out value);
            CPython.PyEval_RestoreThread(ts);
            if (!got)
            {
                fixed (byte* m = Libc.Utf8Z($"no value on channel '{name}' within {timeout.TotalSeconds} s"))
                {
                    CPython.PyErr_SetString(*(nint*)CPython.ExcTimeoutError, m);
                }
                return 0;
            }
        }
        try
        {
            return SubInterpreterValues.ToPython(value, 0);
        }
        catch (ArgumentException e)
        {
            return RaiseType(e.Message);
        }
    }

    private static unsafe nint RaiseType(string message)
    {
        fixed (byte* m = Libc.Utf8Z(message)) CPython.PyErr_SetString(*(nint*)CPython.ExcTypeError, m);
        return 0;
    }
}
