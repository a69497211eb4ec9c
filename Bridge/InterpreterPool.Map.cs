namespace Bridge;

public sealed partial class InterpreterPool
{
    /// <summary>Applies <paramref name="target"/> to every item in parallel (the stdlib's <c>Pool.map</c>) and returns the results in order.</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="target">A Python callable taking one argument.</param>
    /// <param name="items">The items (enumerated once, at the call).</param>
    /// <param name="chunksize">Items per chunk; 0 picks the stdlib's rule (about 4 chunks per worker).</param>
    /// <param name="cancellationToken">Cancels the chunks that have not started.</param>
    /// <returns>The results, in the order of <paramref name="items"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="items"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunksize"/> is negative.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ValueConversionException">An item has no MessagePack form, or a result does not convert.</exception>
    /// <exception cref="PythonException">A call raised (the first failing chunk's error; <see cref="RemoteInvocationException.Index"/> names the item).</exception>
    public Task<TResult[]> MapAsync<T, TResult>(Target target, IEnumerable<T> items, int chunksize = 0, CancellationToken cancellationToken = default)
    {
        CheckTarget(target);
        return _pool.MapAsync<T, TResult>(target, items, chunksize, cancellationToken);
    }

    /// <summary>As <see cref="MapAsync{T, TResult}"/>, with each item an argument list (the stdlib's <c>starmap</c>).</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="target">A Python callable.</param>
    /// <param name="argumentLists">The argument lists.</param>
    /// <param name="chunksize">Items per chunk; 0 picks the stdlib's rule.</param>
    /// <param name="cancellationToken">Cancels the chunks that have not started.</param>
    /// <returns>The results in order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> or <paramref name="argumentLists"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunksize"/> is negative.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ValueConversionException">An argument has no MessagePack form, or a result does not convert.</exception>
    /// <exception cref="PythonException">A call raised.</exception>
    public Task<TResult[]> StarmapAsync<TResult>(Target target, IEnumerable<object?[]> argumentLists, int chunksize = 0, CancellationToken cancellationToken = default)
    {
        CheckTarget(target);
        return _pool.StarmapAsync<TResult>(target, argumentLists, chunksize, cancellationToken);
    }

    /// <summary>Results in order as they become available (the stdlib's <c>imap</c>).</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="target">A Python callable taking one argument.</param>
    /// <param name="items">The items (enumerated once, when enumeration starts).</param>
    /// <param name="chunksize">Items per chunk (default 1).</param>
    /// <param name="cancellationToken">Cancels the chunks that have not started, and the enumeration.</param>
    /// <returns>The results in the order of <paramref name="items"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunksize"/> is less than 1.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="PythonException">A call raised (thrown when its result is reached).</exception>
    public IAsyncEnumerable<TResult> ImapAsync<T, TResult>(Target target, IEnumerable<T> items, int chunksize = 1, CancellationToken cancellationToken = default)
    {
        CheckTarget(target);
        return _pool.ImapAsync<T, TResult>(target, items, chunksize, cancellationToken);
    }

    /// <summary>Results in completion order (the stdlib's <c>imap_unordered</c>).</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="target">A Python callable taking one argument.</param>
    /// <param name="items">The items.</param>
    /// <param name="chunksize">Items per chunk (default 1).</param>
    /// <param name="cancellationToken">Cancels the chunks that have not started, and the enumeration.</param>
    /// <returns>The results as they complete.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunksize"/> is less than 1.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    /// <exception cref="PythonException">A call raised.</exception>
    public IAsyncEnumerable<TResult> ImapUnorderedAsync<T, TResult>(Target target, IEnumerable<T> items, int chunksize = 1, CancellationToken cancellationToken = default)
    {
        CheckTarget(target);
        return _pool.ImapUnorderedAsync<T, TResult>(target, items, chunksize, cancellationToken);
    }
}
