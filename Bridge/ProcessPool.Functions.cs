namespace Bridge;

public sealed partial class ProcessPool
{
    /// <summary>A typed handle for a callable that takes no argument: each call runs it in a worker.</summary>
    /// <typeparam name="TResult">The .NET type wanted for the result.</typeparam>
    /// <param name="target">A Python callable or a .NET method.</param>
    /// <returns>A delegate; calling it is <c>ApplyAsync&lt;TResult&gt;(target, [], cancellationToken)</c>. It throws what <see cref="ApplyAsync{TResult}(Target, object?[], CancellationToken)"/> throws.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Func<CancellationToken, Task<TResult>> GetFunction<TResult>(Target target)
    {
        ArgumentNullException.ThrowIfNull(target);
        CheckDisposed();
        return cancellationToken => ApplyAsync<TResult>(target, [], cancellationToken);
    }

    /// <summary>A typed handle for a one-argument callable: <c>var square = pool.GetFunction&lt;long, long&gt;("calc:square"); long y = await square(7);</c></summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The .NET type wanted for the result.</typeparam>
    /// <param name="target">A Python callable or a .NET method.</param>
    /// <returns>A delegate; calling it is <c>ApplyAsync&lt;TResult&gt;(target, arg)</c>. It throws what <see cref="ApplyAsync{TResult}(Target, object?[], CancellationToken)"/> throws.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Func<T, Task<TResult>> GetFunction<T, TResult>(Target target)
    {
        ArgumentNullException.ThrowIfNull(target);
        CheckDisposed();
        return arg => ApplyAsync<TResult>(target, [arg], CancellationToken.None);
    }

    /// <summary>A typed handle for a two-argument callable: <c>var add = pool.GetFunction&lt;long, long, long&gt;("calc:add"); long s = await add(1, 2);</c></summary>
    /// <typeparam name="T1">The first argument's type.</typeparam>
    /// <typeparam name="T2">The second argument's type.</typeparam>
    /// <typeparam name="TResult">The .NET type wanted for the result.</typeparam>
    /// <param name="target">A Python callable or a .NET method.</param>
    /// <returns>A delegate; calling it is <c>ApplyAsync&lt;TResult&gt;(target, arg1, arg2)</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Func<T1, T2, Task<TResult>> GetFunction<T1, T2, TResult>(Target target)
    {
        ArgumentNullException.ThrowIfNull(target);
        CheckDisposed();
        return (arg1, arg2) => ApplyAsync<TResult>(target, [arg1, arg2], CancellationToken.None);
    }

    /// <summary>A typed handle for a one-argument callable whose calls take a <see cref="CancellationToken"/>.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The .NET type wanted for the result.</typeparam>
    /// <param name="target">A Python callable or a .NET method.</param>
    /// <returns>A delegate; calling it is <c>ApplyAsync&lt;TResult&gt;(target, [arg], cancellationToken)</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Func<T, CancellationToken, Task<TResult>> GetCancellableFunction<T, TResult>(Target target)
    {
        ArgumentNullException.ThrowIfNull(target);
        CheckDisposed();
        return (arg, cancellationToken) => ApplyAsync<TResult>(target, [arg], cancellationToken);
    }

    /// <summary>A typed handle for a two-argument callable whose calls take a <see cref="CancellationToken"/>.</summary>
    /// <typeparam name="T1">The first argument's type.</typeparam>
    /// <typeparam name="T2">The second argument's type.</typeparam>
    /// <typeparam name="TResult">The .NET type wanted for the result.</typeparam>
    /// <param name="target">A Python callable or a .NET method.</param>
    /// <returns>A delegate; calling it is <c>ApplyAsync&lt;TResult&gt;(target, [arg1, arg2], cancellationToken)</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Func<T1, T2, CancellationToken, Task<TResult>> GetCancellableFunction<T1, T2, TResult>(Target target)
    {
        ArgumentNullException.ThrowIfNull(target);
        CheckDisposed();
        return (arg1, arg2, cancellationToken) => ApplyAsync<TResult>(target, [arg1, arg2], cancellationToken);
    }
}
