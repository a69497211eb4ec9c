namespace Bridge;

/// <summary>
/// A lock shared by name between processes and languages: the same object as Python's
/// <c>multiprocessing.Lock</c> / <c>dotbridge.Lock</c> (a POSIX named semaphore of value 1; see
/// the design notes in SharedSemaphore.cs). Like Python's, it has no owner: any process may release it.
/// </summary>
/// <remarks>Thread-safety: all members are thread-safe.</remarks>
public sealed class SharedLock : IDisposable
{
    private readonly SharedSemaphore _semaphore;

    // Python's SemLock keeps these for every kind (semaphore.c: count, last_tid); Condition.wait and
    // notify check them (_is_mine, _count): acquisitions minus releases through this object, and
    // the thread that acquired last.
    private int _count;
    private int _lastThread;

    private SharedLock(SharedSemaphore semaphore) => _semaphore = semaphore;

    /// <summary>The name, with its leading slash (Python: <c>lock._semlock.name</c>, <c>dotbridge.Lock().name</c>).</summary>
    public string Name => _semaphore.Name;

    /// <summary>True if this object created the lock.</summary>
    public bool IsOwner => _semaphore.IsOwner;

    /// <summary>True if some thread or process holds the lock right now (a snapshot).</summary>
    public bool IsLocked => _semaphore.CurrentCount == 0;

    /// <summary>Creates a new, unlocked lock (a random unguessable name if <paramref name="name"/> is null).</summary>
    /// <exception cref="IOException">The name exists or sem_open failed.</exception>
    public static SharedLock Create(string? name = null) => new(SharedSemaphore.Create(name, 1, 1));

    /// <summary>Opens an existing lock by name (Python's <c>Lock().name</c> or a .NET <see cref="Name"/>).</summary>
    /// <exception cref="FileNotFoundException">No such lock.</exception>
    /// <exception cref="IOException">sem_open failed.</exception>
    public static SharedLock Open(string name) => new(SharedSemaphore.Open(name, 1));

    /// <summary>Blocks until the lock is acquired.</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Acquire()
    {
        _semaphore.Wait();
        Acquired();
    }

    /// <summary>Tries to acquire the lock within <paramref name="timeout"/> (zero: try once).</summary>
    /// <returns>True if acquired.</returns>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool TryAcquire(TimeSpan timeout)
    {
        if (!_semaphore.Wait(timeout))
        {
            return false;
        }
        Acquired();
        return true;
    }

    /// <summary>Releases the lock.</summary>
    /// <exception cref="SynchronizationLockException">The lock was not held.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Release()
    {
        try
        {
            _semaphore.Release();
        }
        catch (SemaphoreFullException e)
        {
            throw new SynchronizationLockException($"lock '{Name}' released while not held", e);
        }
        Interlocked.Decrement(ref _count);
    }

    /// <summary>Python's <c>SemLock._is_mine()</c>: acquired through this object, last by the current thread, and not released since.</summary>
    internal bool IsMine => Volatile.Read(ref _count) > 0 && Volatile.Read(ref _lastThread) == Environment.CurrentManagedThreadId;

    /// <summary>Python's <c>SemLock._count()</c>: acquisitions minus releases through this object.</summary>
    internal int Count => Volatile.Read(ref _count);

    private void Acquired()
    {
        Interlocked.Increment(ref _count);
        Volatile.Write(ref _lastThread, Environment.CurrentManagedThreadId);
    }

    /// <summary>Acquires the lock and returns a scope whose <c>Dispose</c> releases it: <c>using (lk.EnterScope()) { … }</c>.</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public Scope EnterScope()
    {
        Acquire();
        return new Scope(this);
    }

    /// <summary>Removes the name (creator only); see <see cref="SharedSemaphore.Unlink"/>.</summary>
    /// <exception cref="InvalidOperationException">Not the creator.</exception>
    public void Unlink() => _semaphore.Unlink();

    /// <summary>Closes this process's handle. Idempotent.</summary>
    public void Dispose() => _semaphore.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"SharedLock({Name})";

    /// <summary>A held lock; disposing releases it.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly SharedLock? _lock;

        internal Scope(SharedLock owner) => _lock = owner;

        /// <summary>Releases the lock.</summary>
        public void Dispose() => _lock?.Release();
    }
}
