using System.Diagnostics.CodeAnalysis;

namespace Bridge.Internal;

/// <summary>Builds the exceptions the pool core throws (STYLE.md "Build exceptions in one ThrowHelper").</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void PoolNotRunning() => throw new InvalidOperationException("Pool not running");

    [DoesNotReturn]
    public static void UnknownJob(long job) => throw new ArgumentException($"unknown or released job {job}", nameof(job));

    [DoesNotReturn]
    public static void JobSealed(long job) => throw new InvalidOperationException($"job {job} is sealed");

    [DoesNotReturn]
    public static void JobNotReady(long job) => throw new InvalidOperationException($"job {job} is not ready");

    [DoesNotReturn]
    public static void JoinWhileRunning() => throw new InvalidOperationException("join() before close() or terminate()");

    [DoesNotReturn]
    public static void Disposed() => throw new ObjectDisposedException(nameof(PoolCore));

    [DoesNotReturn]
    public static void BadArgument(string message, string name) => throw new ArgumentException(message, name);
}
