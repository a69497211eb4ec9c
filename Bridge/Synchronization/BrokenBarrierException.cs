namespace Bridge;

/// <summary>
/// A <see cref="SharedBarrier"/> is broken (Python's <c>threading.BrokenBarrierError</c>): it was aborted, a
/// wait timed out (which breaks it for every party, as in Python), the action threw, or it was reset while
/// this party waited.
/// </summary>
/// <remarks>Immutable; thread-safe.</remarks>
public sealed class BrokenBarrierException : Exception
{
    /// <summary>Creates the exception with the default message.</summary>
    public BrokenBarrierException()
        : this("the barrier is broken")
    {
    }

    /// <summary>Creates the exception with a message and an optional inner exception.</summary>
    public BrokenBarrierException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
