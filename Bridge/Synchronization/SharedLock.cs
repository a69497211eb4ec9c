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
    public void Acquire() => _semaphore.Wait();

    /// <summary>Tries to acquire the lock within <paramref name="timeout"/> (zero: try once).</summary>
    /// <returns>True if acquired.</returns>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool TryAcquire(TimeSpan timeout) => _semaphore.Wait(timeout);

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
