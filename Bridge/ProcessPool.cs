using System.Buffers;
using MessagePack;

namespace Bridge;

/// <summary>
/// A pool of worker processes that runs Python callables (in Python workers) and public static
/// .NET methods (in .NET workers) in parallel, for C# programs: the C# face of the pool that
/// <c>import dotbridge as multiprocessing</c> uses from Python.
/// </summary>
/// <example>
/// <code>
/// await using var pool = new ProcessPool(new ProcessPoolOptions { Processes = 2, PythonPath = { "/my/scripts" } });
/// long sum = await pool.ApplyAsync&lt;long&gt;("calc:add", 1, 2);
/// long[] squares = await pool.MapAsync&lt;long, long&gt;("calc:square", [1, 2, 3]);
/// long primes = await pool.ApplyAsync&lt;long&gt;(DotNetMethod.Of("Bridge.Samples.Primes.Count"), 0L, 100L);
/// </code>
/// </example>
/// <remarks>
/// <para>Arguments and results travel as MessagePack values (Bridge/CONVERSIONS.md); a result that
/// does not convert to the requested type throws <see cref="ValueConversionException"/> naming both
/// types. Errors: see <see cref="BridgeException"/>.</para>
/// <para>The pool is a thin typed front over the scheduling core (<c>Bridge.Internal.PoolCore</c>):
/// every call becomes one job of one or more chunks; the core queues, dispatches, supervises and
/// orders. Workers of a kind start on the first call of that kind.</para>
/// <para>Cancellation: each call takes a <see cref="CancellationToken"/>; cancelling it cancels the
/// call's chunks that were not dispatched yet and completes the call at once with an
/// <see cref="OperationCanceledException"/> carrying that token (chunks already running finish in
/// their worker and their results are dropped).</para>
/// <para>Disposal (<see cref="Dispose"/> or <see cref="DisposeAsync"/>) terminates the workers;
/// calls still in flight fail promptly with <see cref="ObjectDisposedException"/>, and any later
/// call throws <see cref="ObjectDisposedException"/>. Disposal is idempotent.</para>
/// <para>Interpreter workers: with <see cref="ProcessPoolOptions.PythonWorkers"/> =
/// <see cref="PythonWorkers.Interpreters"/> the Python workers are sub-interpreters with their own GIL on threads of
/// this process (Python 3.12+, <see cref="ProcessPoolOptions.InterpreterPython"/>): the same calls, scheduling and
/// errors, no process start-up, no crash isolation. Disposal then also raises <c>SystemExit</c> in Python code still
/// running and waits up to 10 s for those threads to end their interpreters.</para>
/// <para>All members are thread-safe; many calls may be in flight at once from any threads.</para>
/// </remarks>
public sealed partial class ProcessPool : IAsyncDisposable, IDisposable
{
    private const int StateRunning = 0, StateDisposed = 1;
    private int _state;

    /// <summary>Cancelled when the pool is disposed: wakes every awaiting call.</summary>
    private readonly CancellationTokenSource _disposed = new();

    /// <summary>Creates a pool with default options (<see cref="ProcessPoolOptions"/>).</summary>
    /// <exception cref="BrokenPoolException">A worker kind listed for prestart cannot start.</exception>
    public ProcessPool()
        : this(new ProcessPoolOptions())
    {
    }

    /// <summary>Creates a pool. Workers start on the first call of their kind unless prestarted.</summary>
    /// <param name="options">The options; copied, later changes have no effect.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="ProcessPoolOptions.Processes"/> or <see cref="ProcessPoolOptions.MaxTasksPerChild"/> is less than 1.</exception>
    /// <exception cref="ValueConversionException">An <see cref="ProcessPoolOptions.InitArgs"/> value has no MessagePack form.</exception>
    /// <exception cref="PlatformNotSupportedException">Interpreter workers were asked for and the Python in this process is older than 3.12.</exception>
    /// <exception cref="Bridge.Interop.PythonNotFoundException">Interpreter workers were asked for, no Python runs in this process yet and none was found.</exception>
    public ProcessPool(ProcessPoolOptions options)
        : this(Validated(options), InterpreterHostFor(options), TimeSpan.FromSeconds(10))
    {
    }

    /// <summary>A pool whose Python workers are <paramref name="host"/>'s interpreter workers (<see cref="InterpreterPool"/>,
    /// <see cref="PythonWorkers.Interpreters"/>), or processes when it is null.</summary>
    internal ProcessPool(ProcessPoolOptions options, Workers.InterpreterWorkerHost? host, TimeSpan shutdownTimeout)
    {
        Processes = options.Processes ?? Environment.ProcessorCount;
        _host = host;
        _hostShutdown = shutdownTimeout;
        PythonExecutable = host is null ? ResolvePythonExecutable(options.PythonExecutable) : host.Executable ?? "";
        using (host?.HoldStarts()) // prestarted interpreter workers create their interpreters together
        {
            _core = CreateCore(options, Processes, PythonExecutable, host);
        }
    }

    private static ProcessPoolOptions Validated(ProcessPoolOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Processes is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Processes, "ProcessPoolOptions.Processes must be at least 1.");
        }
        if (options.MaxTasksPerChild is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxTasksPerChild, "ProcessPoolOptions.MaxTasksPerChild must be at least 1 (or null for no limit).");
        }
        return options;
    }

    private static Workers.InterpreterWorkerHost? InterpreterHostFor(ProcessPoolOptions options) =>
        options.PythonWorkers == PythonWorkers.Interpreters
            ? CreateInterpreterHost(options.InterpreterPython, [], initCode: null, useSpare: true)
            : null;

    /// <summary>The number of worker processes of each kind.</summary>
    public int Processes { get; }

    /// <summary>The Python executable the Python workers run (interpreter workers: the embedded Python's <c>sys.executable</c>).</summary>
    public string PythonExecutable { get; }

    /// <summary>The default Python executable: env <c>DOTBRIDGE_PYTHON</c>, else <c>python3</c>.</summary>
    private static string ResolvePythonExecutable(string? configured)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return configured;
        }
        string? env = Environment.GetEnvironmentVariable("DOTBRIDGE_PYTHON");
        return string.IsNullOrEmpty(env) ? "python3" : env;
    }

    // ---------------------------------------------------------------- apply

    /// <summary>Runs <paramref name="target"/> with <paramref name="args"/> in a worker and returns its result converted to <typeparamref name="TResult"/>.</summary>
    /// <typeparam name="TResult">The .NET type wanted (CONVERSIONS.md); <c>object</c> gives the untyped value.</typeparam>
    /// <param name="target">A Python callable (a string <c>"module:qualname"</c> converts implicitly) or a .NET method (<see cref="DotNetMethod.Of(string)"/>).</param>
    /// <param name="args">The positional arguments. To pass a <see cref="CancellationToken"/>, use <see cref="ApplyAsync{TResult}(Target, object?[], CancellationToken)"/>.
    /// As with any <c>params object[]</c>, a single <c>object[]</c> or <c>string[]</c> argument is taken as the whole argument list: wrap it (<c>[strings]</c>) to pass it as one argument.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An argument is a <see cref="CancellationToken"/> (use the overload that takes one).</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed (also when it is disposed while the call is in flight).</exception>
    /// <exception cref="ValueConversionException">An argument has no MessagePack form, or the result does not convert to <typeparamref name="TResult"/>.</exception>
    /// <exception cref="PythonException">The Python callable raised.</exception>
    /// <exception cref="RemoteInvocationException">The .NET method threw.</exception>
    /// <exception cref="WorkerCrashedException">The worker died while running the call.</exception>
    /// <exception cref="BrokenPoolException">The workers of the target's kind cannot start.</exception>
    public Task<TResult> ApplyAsync<TResult>(Target target, params object?[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        foreach (var arg in args)
        {
            if (arg is CancellationToken)
            {
                throw new ArgumentException(
                    "A CancellationToken was passed as a task argument; use ApplyAsync(target, args, cancellationToken).", nameof(args));
            }
        }
        return ApplyAsync<TResult>(target, args, CancellationToken.None);
    }

    /// <summary>Runs <paramref name="target"/> with <paramref name="args"/> in a worker and returns its result converted to <typeparamref name="TResult"/>.</summary>
    /// <typeparam name="TResult">The .NET type wanted (CONVERSIONS.md).</typeparam>
    /// <param name="target">A Python callable or a .NET method.</param>
    /// <param name="args">The positional arguments.</param>
    /// <param name="cancellationToken">Cancels the call if it was not dispatched yet and completes it with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="args"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ValueConversionException">An argument has no MessagePack form, or the result does not convert.</exception>
    /// <exception cref="PythonException">The Python callable raised.</exception>
    /// <exception cref="RemoteInvocationException">The .NET method threw.</exception>
    /// <exception cref="WorkerCrashedException">The worker died while running the call.</exception>
    /// <exception cref="BrokenPoolException">The workers of the target's kind cannot start.</exception>
    public Task<TResult> ApplyAsync<TResult>(Target target, object?[] args, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(args);
        CheckDisposed();
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<TResult>(cancellationToken);
        }
        byte[] payload = EncodeCalls([args]);
        var job = SubmitJob(target, [(payload, 1)], failfast: true);
        return Single(CollectAsync<TResult>(job, target.Kind, [1], cancellationToken));

        static async Task<TResult> Single(Task<TResult[]> all) => (await all.ConfigureAwait(false))[0];
    }
}
