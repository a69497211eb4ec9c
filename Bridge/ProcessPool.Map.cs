namespace Bridge;

public sealed partial class ProcessPool
{
    /// <summary>Runs <paramref name="target"/> once per item (one argument each) in parallel and returns the results in item order (stdlib <c>Pool.map</c>).</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The .NET type wanted for each result.</typeparam>
    /// <param name="target">A Python callable or a .NET method taking one argument.</param>
    /// <param name="items">The items; enumerated once, at the call.</param>
    /// <param name="chunksize">Calls per chunk (one TASK frame); 0 (default) chooses as the stdlib does (<c>ceil(n / (4 * processes))</c>).</param>
    /// <param name="cancellationToken">Cancels the chunks not yet dispatched and completes the call with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The results, in item order.</returns>
    /// <remarks>The first failing call fails the whole map (stdlib semantics): its exception is thrown as soon as it is known; the remaining chunks are cancelled if not dispatched yet.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="items"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunksize"/> is negative.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ValueConversionException">An item has no MessagePack form, or a result does not convert.</exception>
    /// <exception cref="PythonException">A Python call raised.</exception>
    /// <exception cref="RemoteInvocationException">A .NET call threw.</exception>
    /// <exception cref="WorkerCrashedException">A worker died while running a chunk.</exception>
    /// <exception cref="BrokenPoolException">The workers of the target's kind cannot start.</exception>
    public Task<TResult[]> MapAsync<T, TResult>(Target target, IEnumerable<T> items, int chunksize = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        return RunAllAsync<TResult>(target, ToCalls(items), chunksize, cancellationToken);
    }

    /// <summary>Runs <paramref name="target"/> once per argument array (unpacked as positional arguments) and returns the results in order (stdlib <c>Pool.starmap</c>).</summary>
    /// <typeparam name="TResult">The .NET type wanted for each result.</typeparam>
    /// <param name="target">A Python callable or a .NET method.</param>
    /// <param name="argumentLists">One positional-argument array per call.</param>
    /// <param name="chunksize">Calls per chunk; 0 chooses as the stdlib does.</param>
    /// <param name="cancellationToken">Cancels the chunks not yet dispatched.</param>
    /// <returns>The results, in order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/>, <paramref name="argumentLists"/> or one of its arrays is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunksize"/> is negative.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ValueConversionException">An argument has no MessagePack form, or a result does not convert.</exception>
    /// <exception cref="PythonException">A Python call raised.</exception>
    /// <exception cref="RemoteInvocationException">A .NET call threw.</exception>
    /// <exception cref="WorkerCrashedException">A worker died while running a chunk.</exception>
    /// <exception cref="BrokenPoolException">The workers of the target's kind cannot start.</exception>
    public Task<TResult[]> StarmapAsync<TResult>(Target target, IEnumerable<object?[]> argumentLists, int chunksize = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(argumentLists);
        return RunAllAsync<TResult>(target, ToStarCalls(argumentLists), chunksize, cancellationToken);
    }

    /// <summary>Like <see cref="MapAsync{T, TResult}"/>, but yields each result as soon as it and all before it are done (stdlib <c>Pool.imap</c>).</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The .NET type wanted for each result.</typeparam>
    /// <param name="target">A Python callable or a .NET method taking one argument.</param>
    /// <param name="items">The items; enumerated lazily as results are consumed (a window of about <c>4 * Processes</c> chunks ahead), so an endless sequence works.</param>
    /// <param name="chunksize">Calls per chunk (default 1, as the stdlib).</param>
    /// <param name="cancellationToken">Cancels the chunks not yet dispatched and ends the enumeration with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The results, in item order. The work is submitted when the enumeration starts; leaving it early cancels what was not dispatched. Enumerate it once.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="items"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunksize"/> is less than 1.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed (thrown by the enumeration).</exception>
    /// <exception cref="PythonException">A Python call raised (thrown by the enumeration at that item).</exception>
    /// <exception cref="RemoteInvocationException">A .NET call threw (thrown by the enumeration at that item).</exception>
    /// <exception cref="WorkerCrashedException">A worker died while running a chunk.</exception>
    public IAsyncEnumerable<TResult> ImapAsync<T, TResult>(Target target, IEnumerable<T> items, int chunksize = 1, CancellationToken cancellationToken = default) =>
        Stream<TResult>(target, items is null ? throw new ArgumentNullException(nameof(items)) : ToCalls(items), chunksize, ordered: true, cancellationToken);

    /// <summary>Like <see cref="ImapAsync{T, TResult}"/>, but yields results in the order they finish (stdlib <c>Pool.imap_unordered</c>; calls within one chunk stay together in order).</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The .NET type wanted for each result.</typeparam>
    /// <param name="target">A Python callable or a .NET method taking one argument.</param>
    /// <param name="items">The items; enumerated lazily, as for <see cref="ImapAsync{T, TResult}"/>.</param>
    /// <param name="chunksize">Calls per chunk (default 1).</param>
    /// <param name="cancellationToken">Cancels the chunks not yet dispatched and ends the enumeration with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The results, in completion order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="items"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunksize"/> is less than 1.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed (thrown by the enumeration).</exception>
    /// <exception cref="PythonException">A Python call raised.</exception>
    /// <exception cref="RemoteInvocationException">A .NET call threw.</exception>
    /// <exception cref="WorkerCrashedException">A worker died while running a chunk.</exception>
    public IAsyncEnumerable<TResult> ImapUnorderedAsync<T, TResult>(Target target, IEnumerable<T> items, int chunksize = 1, CancellationToken cancellationToken = default) =>
        Stream<TResult>(target, items is null ? throw new ArgumentNullException(nameof(items)) : ToCalls(items), chunksize, ordered: false, cancellationToken);

    private static IEnumerable<object?[]> ToCalls<T>(IEnumerable<T> items)
    {
        foreach (var item in items)
        {
            yield return [item];
        }
    }

    private static IEnumerable<object?[]> ToStarCalls(IEnumerable<object?[]> argumentLists)
    {
        foreach (var args in argumentLists)
        {
            yield return args ?? throw new ArgumentNullException(nameof(argumentLists), "An argument array is null.");
        }
    }

    private Task<TResult[]> RunAllAsync<TResult>(Target target, IEnumerable<object?[]> calls, int chunksize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfNegative(chunksize);
        CheckDisposed();
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<TResult[]>(cancellationToken);
        }
        var list = calls.ToList();
        if (list.Count == 0)
        {
            return Task.FromResult(Array.Empty<TResult>());
        }
        if (chunksize == 0)
        {
            chunksize = Math.Max(1, _core.Chunksize(list.Count));
        }
        var chunks = MakeChunks(list, chunksize);
        var job = SubmitJob(target, chunks, failfast: true);
        return CollectAsync<TResult>(job, target.Kind, CountsOf(chunks), cancellationToken);
    }

    private IAsyncEnumerable<TResult> Stream<TResult>(Target target, IEnumerable<object?[]> calls, int chunksize, bool ordered, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunksize, 1);
        CheckDisposed();
        return StreamAsync<TResult>(target, calls, chunksize, ordered, cancellationToken);
    }

    private static int[] CountsOf(List<(byte[] Payload, int Count)> chunks)
    {
        var counts = new int[chunks.Count];
        for (int i = 0; i < counts.Length; i++)
        {
            counts[i] = chunks[i].Count;
        }
        return counts;
    }

    private PoolJob SubmitJob(Target target, IReadOnlyList<(byte[] Payload, int Count)> chunks, bool failfast, bool ordered = true)
    {
        CheckDisposed();
        return _core.Submit(target.Kind, target.Name, chunks, failfast, ordered);
    }
}
