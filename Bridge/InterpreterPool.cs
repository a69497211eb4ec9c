using Bridge.Interop;
using Bridge.Interop.SubInterpreters;
using Bridge.Workers;

namespace Bridge;

/// <summary>
/// A pool of interpreter workers: CPython sub-interpreters, each with its own GIL (Python 3.12+), each on its
/// own .NET thread inside this process. Same task API as <see cref="ProcessPool"/> for Python callables, with
/// no process start-up: pure-Python work runs in parallel inside one process.
/// </summary>
/// <example>
/// <code>
/// await using var pool = new InterpreterPool(new InterpreterPoolOptions { Interpreters = 2, PythonPath = { "/my/scripts" },
///     Python = new PythonOptions { LibraryPath = "/usr/lib/x86_64-linux-gnu/libpython3.12.so" } });
/// long sum = await pool.ApplyAsync&lt;long&gt;("calc:add", 1, 2);
/// long[] squares = await pool.MapAsync&lt;long, long&gt;("calc:square", [1, 2, 3]);
/// </code>
/// </example>
/// <remarks>
/// <para>Honest limits. Only Python 3.12 and later (the constructor throws <see cref="PlatformNotSupportedException"/>
/// otherwise). A C extension that does not support sub-interpreters (numpy among them today) cannot be imported:
/// the call fails with a <see cref="PythonException"/> (<c>builtins.ImportError</c>) that names the module and
/// suggests process workers. The workers share this process: a crash in one (a segfaulting extension,
/// <c>os._exit</c>) ends the whole process, which process workers would have isolated; process workers stay the default.
/// Only Python callables run here (.NET targets: use <see cref="ProcessPool"/> or plain threads).</para>
/// <para>Values: arguments and results cross interpreters as MessagePack (<see cref="MsgPackValues"/>, the
/// conversions of Bridge/CONVERSIONS.md) and are rebuilt as new objects on the other side; no Python object is
/// ever shared. A result that has no MessagePack form fails the call (<see cref="PythonException"/>, kind "result").</para>
/// <para>Errors map as for process workers: the callable raised → <see cref="PythonException"/> with the remote
/// type, message, traceback and cause chain; the target is missing → kind "target"; <c>sys.exit</c> in a call ends
/// its worker → <see cref="WorkerCrashedException"/>, and a fresh interpreter replaces it.</para>
/// <para>This is <see cref="ProcessPool"/> with <see cref="ProcessPoolOptions.PythonWorkers"/> =
/// <see cref="PythonWorkers.Interpreters"/>, prestarted, for Python callables only: the same pool core schedules,
/// supervises and maps errors; each worker speaks the same frames over two in-process pipes (ABI.md "Interpreter workers").</para>
/// <para>Cancellation cancels a call's chunks that have not started and completes it at once with
/// <see cref="OperationCanceledException"/>. Disposal fails every queued and running call at once with
/// <see cref="ObjectDisposedException"/>, raises <c>SystemExit</c> in Python code still running (it ends at its next
/// bytecode; a blocking C call such as <c>time.sleep</c> returns first), ends every interpreter, and waits up to
/// <see cref="InterpreterPoolOptions.ShutdownTimeout"/> for that; a worker still running then is left behind
/// (a background thread that ends its interpreter when its call returns).</para>
/// <para>Start-up: each worker is a new sub-interpreter (about 6-8 ms of CPython's own work; <c>site</c> is not run
/// again, the main interpreter's <c>sys.path</c> is given to it), except that a pool's workers adopt the process's
/// spare interpreters when some are ready and leave new ones behind (<see cref="InterpreterPoolOptions.UseSpare"/>,
/// <see cref="Prepare"/>).</para>
/// <para>All members are thread-safe.</para>
/// </remarks>
public sealed partial class InterpreterPool : IAsyncDisposable, IDisposable
{
    private readonly ProcessPool _pool;
    private readonly InterpreterWorkerHost _host;
    private int _disposed;

    /// <summary>Creates a pool and starts its interpreters (each within milliseconds; a worker that adopts the
    /// process's spare interpreter within a fraction of one: see <see cref="InterpreterPoolOptions.UseSpare"/>).</summary>
    /// <param name="options">The options, or null for the defaults.</param>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="InterpreterPoolOptions.Interpreters"/> is less than 1.</exception>
    /// <exception cref="PythonNotFoundException">Python is not running yet and none was found.</exception>
    /// <exception cref="PlatformNotSupportedException">The Python in this process is older than 3.12.</exception>
    /// <exception cref="BrokenPoolException">An interpreter could not start, or the initializer raised.</exception>
    public InterpreterPool(InterpreterPoolOptions? options = null)
    {
        options ??= new InterpreterPoolOptions();
        if (options.Interpreters is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Interpreters, "InterpreterPoolOptions.Interpreters must be at least 1.");
        }
        Interpreters = options.Interpreters ?? Environment.ProcessorCount;
        _host = ProcessPool.CreateInterpreterHost(options.Python, options.PythonPath, options.Initializer, options.UseSpare);
        _pool = new ProcessPool(new ProcessPoolOptions { Processes = Interpreters, PrestartPython = true }, _host, options.ShutdownTimeout);
        var started = _host.Started;
        bool allStarted;
        try
        {
            allStarted = Task.WaitAll(started, options.StartTimeout);
        }
        catch (AggregateException e)
        {
            Dispose();
            throw StartFailed(e.InnerExceptions[0]);
        }
        if (!allStarted)
        {
            Dispose();
            throw new BrokenPoolException($"the interpreter workers did not start within {options.StartTimeout} (InterpreterPoolOptions.StartTimeout)");
        }
        if (options.UseSpare) Spare.Ensure(Interpreters);
    }

    private static BrokenPoolException StartFailed(Exception e)
    {
        if (e is InitFailedException { Error: Dictionary<object, object?> map })
        {
            var cause = ProcessPool.RemoteErrorFromMap(ToStringKeys(map, 0), TargetKind.Python);
            return new BrokenPoolException(
                $"the interpreter workers' initializer raised {(cause as PythonException)?.PythonTypeName}: {cause.Message}",
                cause is RemoteInvocationException r ? r.RemoteType : "", cause is RemoteInvocationException r2 ? r2.RemoteStackTrace : "", cause);
        }
        return new BrokenPoolException("an interpreter worker could not start: " + e.Message, e);
    }

    private static Dictionary<string, object?> ToStringKeys(Dictionary<object, object?> map, int depth)
    {
        var result = new Dictionary<string, object?>();
        foreach (var (k, v) in map)
        {
            result[k.ToString() ?? ""] = v is Dictionary<object, object?> inner && depth < 32 ? ToStringKeys(inner, depth + 1) : v;
        }
        return result;
    }

    /// <summary>The number of interpreter workers.</summary>
    public int Interpreters { get; }

    /// <summary>True when this process can run interpreter workers: Python 3.12+ is running, or (when none runs yet)
    /// would be loaded with <paramref name="python"/>. Loads Python if it is not running yet.</summary>
    /// <param name="python">Which Python to load if none runs yet.</param>
    /// <param name="reason">Why not, or null.</param>
    /// <returns>Whether <see cref="InterpreterPool"/> can be created.</returns>
    public static bool IsSupported(PythonOptions? python, out string? reason)
    {
        try
        {
            PythonRuntime.Initialize(python);
        }
        catch (Exception e) when (e is PythonNotFoundException or DllNotFoundException or Bridge.Interop.PythonException)
        {
            reason = e.Message;
            return false;
        }
        reason = SubInterpreter.UnsupportedReason;
        return reason is null;
    }

    /// <summary>Makes <paramref name="interpreters"/> spare interpreters now, one after another on background threads
    /// (at most one per CPU), so that pools created later adopt them and start in about a millisecond per worker
    /// (as every pool after the first does by default: <see cref="InterpreterPoolOptions.UseSpare"/>). For a program
    /// that knows early it will want interpreter workers: the role of the stdlib's <c>set_forkserver_preload</c>.
    /// Returns at once; loads Python if it is not running yet.</summary>
    /// <param name="interpreters">How many spares to keep (default <see cref="Environment.ProcessorCount"/>).</param>
    /// <param name="python">Which Python to load if none runs yet (3.12+).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="interpreters"/> is less than 1.</exception>
    /// <exception cref="PythonNotFoundException">Python is not running yet and none was found.</exception>
    /// <exception cref="PlatformNotSupportedException">The Python in this process is older than 3.12.</exception>
    public static void Prepare(int? interpreters = null, PythonOptions? python = null)
    {
        if (interpreters is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(interpreters), interpreters, "at least 1 spare interpreter");
        }
        PythonRuntime.Initialize(python);
        if (!SubInterpreter.IsSupported)
        {
            throw new PlatformNotSupportedException(SubInterpreter.UnsupportedReason);
        }
        Spare.Ensure(interpreters ?? Environment.ProcessorCount);
    }

    /// <summary>The named channel between interpreter workers and .NET (PEP 554-style; Python code imports
    /// <c>_dotbridge_channels</c> and calls <c>send(name, value)</c> / <c>recv(name, timeout=None)</c>). Values are
    /// plain (the MessagePack value model) and copied, never shared.</summary>
    /// <param name="name">The channel's name (process-wide).</param>
    /// <returns>The channel.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null or empty.</exception>
    public static InterpreterChannel Channel(string name) => InterpreterChannel.Get(name);

    // ---------------------------------------------------------------- apply

    /// <summary>Runs the Python callable <paramref name="target"/> with <paramref name="args"/> in an interpreter
    /// worker and returns its result converted to <typeparamref name="TResult"/>.</summary>
    /// <typeparam name="TResult">The .NET type wanted (CONVERSIONS.md); <c>object</c> gives the untyped value.</typeparam>
    /// <param name="target">A Python callable: a string <c>"module:qualname"</c> converts implicitly.</param>
    /// <param name="args">The positional arguments.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="args"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="target"/> is a .NET method, or an argument is a <see cref="CancellationToken"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed (also while the call is in flight).</exception>
    /// <exception cref="ValueConversionException">An argument has no MessagePack form, or the result does not convert.</exception>
    /// <exception cref="PythonException">The callable raised, was not found, or its module refuses sub-interpreters.</exception>
    public Task<TResult> ApplyAsync<TResult>(Target target, params object?[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Any(a => a is CancellationToken))
        {
            throw new ArgumentException("A CancellationToken was passed as a task argument; use ApplyAsync(target, args, cancellationToken).", nameof(args));
        }
        return ApplyAsync<TResult>(target, args, CancellationToken.None);
    }

    /// <summary>Runs <paramref name="target"/> with <paramref name="args"/> in an interpreter worker.</summary>
    /// <typeparam name="TResult">The .NET type wanted.</typeparam>
    /// <param name="target">A Python callable.</param>
    /// <param name="args">The positional arguments.</param>
    /// <param name="cancellationToken">Cancels the call if it has not started.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="args"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="target"/> is a .NET method.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ValueConversionException">An argument has no MessagePack form, or the result does not convert.</exception>
    /// <exception cref="PythonException">The callable raised, was not found, or its module refuses sub-interpreters.</exception>
    public Task<TResult> ApplyAsync<TResult>(Target target, object?[] args, CancellationToken cancellationToken)
    {
        CheckTarget(target);
        return _pool.ApplyAsync<TResult>(target, args, cancellationToken);
    }

    // ---------------------------------------------------------------- disposal

    /// <summary>Fails queued and running calls with <see cref="ObjectDisposedException"/>, raises <c>SystemExit</c> in
    /// running Python code, ends every interpreter (waiting up to <see cref="InterpreterPoolOptions.ShutdownTimeout"/>
    /// for running calls to return). Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _pool.Dispose();
    }

    /// <summary>As <see cref="Dispose"/>, on a thread-pool thread.</summary>
    /// <returns>A task that completes when the pool is disposed.</returns>
    public ValueTask DisposeAsync() => new(Task.Run(Dispose));

    /// <summary>The number of worker threads still alive (for tests: 0 after a clean disposal).</summary>
    internal int AliveWorkers => _host.AliveWorkers;
}
