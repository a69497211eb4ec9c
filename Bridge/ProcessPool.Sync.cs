namespace Bridge;

// The blocking API: the same jobs as the async one, waited for with the core's own blocking wait
// (it spins briefly, then sleeps; no sync-over-async). A cancellable wait polls its token every
// SyncPollInterval.
public sealed partial class ProcessPool
{
    private static readonly TimeSpan SyncPollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>Runs <paramref name="target"/> with <paramref name="args"/> in a worker and blocks until its result is in (stdlib <c>Pool.apply</c>).</summary>
    /// <typeparam name="TResult">The .NET type wanted (CONVERSIONS.md).</typeparam>
    /// <param name="target">A Python callable or a .NET method.</param>
    /// <param name="args">The positional arguments.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="args"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An argument is a <see cref="CancellationToken"/> (use the overload that takes one).</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="ValueConversionException">An argument has no MessagePack form, or the result does not convert.</exception>
    /// <exception cref="PythonException">The Python callable raised.</exception>
    /// <exception cref="RemoteInvocationException">The .NET method threw.</exception>
    /// <exception cref="WorkerCrashedException">The worker died while running the call.</exception>
    /// <exception cref="BrokenPoolException">The workers of the target's kind cannot start.</exception>
    public TResult Apply<TResult>(Target target, params object?[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        foreach (var arg in args)
        {
            if (arg is CancellationToken)
            {
                throw new ArgumentException(
                    "A CancellationToken was passed as a task argument; use Apply(target, args, cancellationToken).", nameof(args));
            }
        }
        return Apply<TResult>(target, args, CancellationToken.None);
    }

    /// <summary>Runs <paramref name="target"/> with <paramref name="args"/> in a worker and blocks until its result is in.</summary>
    /// <typeparam name="TResult">The .NET type wanted (CONVERSIONS.md).</typeparam>
    /// <param name="target">A Python callable or a .NET method.</param>
    /// <param name="args">The positional arguments.</param>
    /// <param name="cancellationToken">Cancels the call if it was not dispatched yet and stops waiting (<see cref="OperationCanceledException"/>).</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="args"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ValueConversionException">An argument has no MessagePack form, or the result does not convert.</exception>
    /// <exception cref="PythonException">The Python callable raised.</exception>
    /// <exception cref="RemoteInvocationException">The .NET method threw.</exception>
    /// <exception cref="WorkerCrashedException">The worker died while running the call.</exception>
    /// <exception cref="BrokenPoolException">The workers of the target's kind cannot start.</exception>
    public TResult Apply<TResult>(Target target, object?[] args, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(args);
        CheckDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var job = SubmitJob(target, [(EncodeCalls([args]), 1)], failfast: true);
        return Collect<TResult>(job, target.Kind, [1], cancellationToken)[0];
    }

    /// <summary>The blocking <see cref="MapAsync{T, TResult}"/> (stdlib <c>Pool.map</c>).</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The .NET type wanted for each result.</typeparam>
    /// <param name="target">A Python callable or a .NET method taking one argument.</param>
    /// <param name="items">The items.</param>
    /// <param name="chunksize">Calls per chunk; 0 chooses as the stdlib does.</param>
    /// <param name="cancellationToken">Cancels the chunks not yet dispatched and stops waiting.</param>
    /// <returns>The results, in item order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="items"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunksize"/> is negative.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ValueConversionException">An item has no MessagePack form, or a result does not convert.</exception>
    /// <exception cref="PythonException">A Python call raised.</exception>
    /// <exception cref="RemoteInvocationException">A .NET call threw.</exception>
    /// <exception cref="WorkerCrashedException">A worker died while running a chunk.</exception>
    /// <exception cref="BrokenPoolException">The workers of the target's kind cannot start.</exception>
    public TResult[] Map<T, TResult>(Target target, IEnumerable<T> items, int chunksize = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        return RunAll<TResult>(target, ToCalls(items), chunksize, cancellationToken);
    }

    /// <summary>The blocking <see cref="StarmapAsync{TResult}"/> (stdlib <c>Pool.starmap</c>).</summary>
    /// <typeparam name="TResult">The .NET type wanted for each result.</typeparam>
    /// <param name="target">A Python callable or a .NET method.</param>
    /// <param name="argumentLists">One positional-argument array per call.</param>
    /// <param name="chunksize">Calls per chunk; 0 chooses as the stdlib does.</param>
    /// <param name="cancellationToken">Cancels the chunks not yet dispatched and stops waiting.</param>
    /// <returns>The results, in order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="argumentLists"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunksize"/> is negative.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ValueConversionException">An argument has no MessagePack form, or a result does not convert.</exception>
    /// <exception cref="PythonException">A Python call raised.</exception>
    /// <exception cref="RemoteInvocationException">A .NET call threw.</exception>
    /// <exception cref="WorkerCrashedException">A worker died while running a chunk.</exception>
    /// <exception cref="BrokenPoolException">The workers of the target's kind cannot start.</exception>
    public TResult[] Starmap<TResult>(Target target, IEnumerable<object?[]> argumentLists, int chunksize = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(argumentLists);
        return RunAll<TResult>(target, ToStarCalls(argumentLists), chunksize, cancellationToken);
    }

    private TResult[] RunAll<TResult>(Target target, IEnumerable<object?[]> calls, int chunksize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfNegative(chunksize);
        CheckDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var list = calls.ToList();
        if (list.Count == 0)
        {
            return [];
        }
        if (chunksize == 0)
        {
            chunksize = Math.Max(1, _core.Chunksize(list.Count));
        }
        var chunks = MakeChunks(list, chunksize);
        var job = SubmitJob(target, chunks, failfast: true);
        return Collect<TResult>(job, target.Kind, CountsOf(chunks), cancellationToken);
    }

    /// <summary>Blocks until the job is ready (polling the token and the pool's disposal), then decodes it as <see cref="CollectAsync{TResult}"/> does.</summary>
    private TResult[] Collect<TResult>(PoolJob job, TargetKind kind, int[] chunkCounts, CancellationToken cancellationToken)
    {
        try
        {
            bool cancellable = cancellationToken.CanBeCanceled;
            while (!job.Wait(cancellable ? SyncPollInterval : null))
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException(cancellationToken);
                }
            }
            return Decode<TResult>(job.Results(), kind, chunkCounts, cancellationToken);
        }
        finally
        {
            job.Abandon();
        }
    }
}
