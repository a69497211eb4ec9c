namespace Bridge;

/// <summary>
/// A recursive lock shared by name with Python's <c>multiprocessing.RLock</c> / <c>dotbridge.RLock</c>:
/// one POSIX named semaphore of value 1, with the owning thread and recursion count kept in each
/// process (as Python's SemLock does), so another process just sees it held.
/// </summary>
/// <remarks>Thread-safety: all members are thread-safe; <see cref="Release"/> must come from the owning thread.</remarks>
public sealed class SharedRLock : IDisposable
{
    private readonly SharedSemaphore _semaphore;
    private int _ownerThread;
    private int _count;

    private SharedRLock(SharedSemaphore semaphore) => _semaphore = semaphore;

    /// <summary>The name, with its leading slash.</summary>
    public string Name => _semaphore.Name;

    /// <summary>True if the current thread holds the lock.</summary>
    public bool IsHeldByCurrentThread => Volatile.Read(ref _ownerThread) == Environment.CurrentManagedThreadId && _count > 0;

    /// <summary>Creates a new recursive lock (random name if <paramref name="name"/> is null).</summary>
    /// <exception cref="IOException">The name exists or sem_open failed.</exception>
    public static SharedRLock Create(string? name = null) => new(SharedSemaphore.Create(name, 1, 1));

    /// <summary>Opens an existing recursive lock (Python's <c>RLock()._semlock.name</c>).</summary>
    /// <exception cref="FileNotFoundException">No such lock.</exception>
    public static SharedRLock Open(string name) => new(SharedSemaphore.Open(name, 1));

    /// <summary>Acquires the lock (again, if this thread holds it already).</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Acquire() => TryAcquire(Timeout.InfiniteTimeSpan);

    /// <summary>Tries to acquire the lock within <paramref name="timeout"/>.</summary>
    /// <returns>True if acquired (or re-entered).</returns>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool TryAcquire(TimeSpan timeout)
    {
        int me = Environment.CurrentManagedThreadId;
        if (Volatile.Read(ref _ownerThread) == me)
        {
            _count++;
            return true;
        }
        if (!_semaphore.Wait(timeout))
        {
            return false;
        }
        Volatile.Write(ref _ownerThread, me);
        _count = 1;
        return true;
    }

    /// <summary>Releases one level; the last release lets other threads and processes in.</summary>
    /// <exception cref="SynchronizationLockException">The current thread does not hold the lock.</exception>
    public void Release()
    {
        if (Volatile.Read(ref _ownerThread) != Environment.CurrentManagedThreadId || _count == 0)
        {
            throw new SynchronizationLockException($"cannot release un-acquired lock '{Name}'");
        }
        if (--_count == 0)
        {
            Volatile.Write(ref _ownerThread, 0);
            _semaphore.Release();
        }
    }

    /// <summary>Python's <c>SemLock._count()</c>: how many times the owning thread holds the lock (0 when free).</summary>
    internal int RecursionCount => _count;

    /// <summary>True if this object created the lock (and so may <see cref="Unlink"/> it).</summary>
    public bool IsOwner => _semaphore.IsOwner;

    /// <summary>Removes the name (creator only).</summary>
    /// <exception cref="InvalidOperationException">Not the creator.</exception>
    public void Unlink() => _semaphore.Unlink();

    /// <summary>Closes this process's handle. Idempotent.</summary>
    public void Dispose() => _semaphore.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"SharedRLock({Name})";
}
