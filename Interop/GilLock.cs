using System.Diagnostics;

namespace Bridge.Interop;

/// <summary>Proof that the current thread holds the GIL; returned by <see cref="Gil.Acquire"/>.</summary>
/// <remarks>A ref struct, so it cannot live across an await or be captured; dispose it exactly once
/// (do not copy it), on the thread that acquired it (checked in debug builds), innermost first.</remarks>
public ref struct GilLock
{
#if DEBUG
    private readonly int _threadId;
#endif
    private readonly int _mode;
    private readonly int _gilState;
    private bool _disposed;

    internal GilLock(int mode, int gilState)
    {
        _mode = mode;
        _gilState = gilState;
#if DEBUG
        _threadId = Environment.CurrentManagedThreadId;
#endif
        _disposed = false;
    }

    /// <summary>Undoes this acquisition (releases the GIL unless it is nested in another one).</summary>
    /// <exception cref="InvalidOperationException">Debug builds: disposed on another thread than the one that acquired it.</exception>
    public void Dispose()
    {
        if (_disposed) return;
#if DEBUG
        if (_threadId != Environment.CurrentManagedThreadId)
        {
            Debug.Fail("GIL released on a different thread than the one that acquired it.");
            throw new InvalidOperationException("GIL released on a different thread than the one that acquired it.");
        }
#endif
        _disposed = true;
        Gil.Release(_mode, _gilState);
    }
}
