namespace Bridge;

public sealed partial class InterpreterPool
{
    /// <summary>A typed handle for a one-argument Python callable: <c>var square = pool.GetFunction&lt;long, long&gt;("calc:square"); long y = await square(7);</c></summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The .NET type wanted for the result.</typeparam>
    /// <param name="target">A Python callable.</param>
    /// <returns>A delegate; calling it is <c>ApplyAsync&lt;TResult&gt;(target, arg)</c> and throws what that throws.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="target"/> is a .NET method.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Func<T, Task<TResult>> GetFunction<T, TResult>(Target target)
    {
        CheckTarget(target);
        return arg => ApplyAsync<TResult>(target, [arg], CancellationToken.None);
    }

    /// <summary>A typed handle for a two-argument Python callable: <c>var add = pool.GetFunction&lt;long, long, long&gt;("calc:add");</c></summary>
    /// <typeparam name="T1">The first argument's type.</typeparam>
    /// <typeparam name="T2">The second argument's type.</typeparam>
    /// <typeparam name="TResult">The .NET type wanted for the result.</typeparam>
    /// <param name="target">A Python callable.</param>
    /// <returns>A delegate; calling it is <c>ApplyAsync&lt;TResult&gt;(target, arg1, arg2)</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="target"/> is a .NET method.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Func<T1, T2, Task<TResult>> GetFunction<T1, T2, TResult>(Target target)
    {
        CheckTarget(target);
        return (arg1, arg2) => ApplyAsync<TResult>(target, [arg1, arg2], CancellationToken.None);
    }

    private void CheckTarget(Target target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.Kind != TargetKind.Python)
        {
            throw new ArgumentException($"interpreter workers run Python callables only; '{target}' is a .NET method (use ProcessPool).", nameof(target));
        }
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
    }
}
