using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Bridge.Internal;

namespace Bridge;

/*
 * Design notes (locks a Python process and a .NET process share; see Bridge/SHARED.md)
 *
 * - Every cross-language primitive is one POSIX named semaphore (sem_open(3)), the very object
 *   Python's multiprocessing.synchronize.SemLock wraps: Python opens ours with
 *   _multiprocessing.SemLock._rebuild(0, kind, maxvalue, "/name") and we open Python's by the
 *   name in its SemLock.name. Names start with a slash; ours are "/db_" + 32 hex digits (128
 *   random bits, not guessable), created O_EXCL with mode 0600.
 * - Lock = semaphore of value 1 (no owner: any process may release, as multiprocessing.Lock).
 *   RLock = the same semaphore; recursion and ownership are tracked inside each process (as
 *   Python's SemLock does for RECURSIVE_MUTEX), so another process simply sees a held lock.
 *   Semaphore/BoundedSemaphore = a counting semaphore; "bounded" is checked at release with
 *   sem_getvalue, exactly like Python's SemLock.release.
 * - Waits loop on EINTR; a timed wait is sem_timedwait on an absolute CLOCK_REALTIME deadline
 *   (recomputed after EINTR). Waits block the calling thread: they are the one blocking API here.
 * - Lifetime: the creator owns the name (Unlink); Dispose closes this process's handle. A .NET
 *   creator unlinks what it still owns at ProcessExit, its resource tracker after a kill -9
 *   (Tracking/ResourceTracker.cs); Python-created names are unlinked by their
 *   creator's finalizer or, after kill -9, by Python's resource tracker. A process that already
 *   opened a semaphore keeps using it after the unlink.
 */

/// <summary>
/// A counting semaphore shared by name between processes and languages: the same POSIX named
/// semaphore as Python's <c>multiprocessing.Semaphore</c>/<c>BoundedSemaphore</c> (and the base of
/// <see cref="SharedLock"/> and <see cref="SharedRLock"/>).
/// </summary>
/// <remarks>Thread-safety: all members are thread-safe. <see cref="Dispose"/> must not race with a wait on the same object.</remarks>
public sealed class SharedSemaphore : IDisposable
{
    private static readonly ConcurrentDictionary<string, byte> s_owned = new();
    private static int s_exitHookInstalled;

    private nint _sem;
    private int _unlinked;

    private SharedSemaphore(nint sem, string name, int maximumCount, bool owner)
    {
        _sem = sem;
        Name = name;
        MaximumCount = maximumCount;
        IsOwner = owner;
    }

    /// <summary>The semaphore's name, with its leading slash (as Python's <c>SemLock.name</c>).</summary>
    public string Name { get; }

    /// <summary>The bound checked at <see cref="Release"/> (<see cref="int.MaxValue"/> for an unbounded semaphore).</summary>
    public int MaximumCount { get; }

    /// <summary>True if this object created the semaphore (and so may <see cref="Unlink"/> it).</summary>
    public bool IsOwner { get; }

    /// <summary>The current count (sem_getvalue).</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public int CurrentCount
    {
        get
        {
            var sem = Handle();
            PosixSemaphore.SemGetValue(sem, out int value);
            return Math.Max(0, value);
        }
    }

    /// <summary>A new unguessable semaphore name: <c>/db_</c> and 32 hex digits.</summary>
    public static string NewName() => "/db_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>Creates a named semaphore (a new random name if <paramref name="name"/> is null), mode 0600.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Bad counts.</exception>
    /// <exception cref="IOException">The name exists already or sem_open failed.</exception>
    public static SharedSemaphore Create(string? name, int initialCount, int maximumCount = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(initialCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maximumCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(initialCount, maximumCount);
        name = name is null ? NewName() : NormalizeName(name);
        nint sem = PosixSemaphore.SemOpen(name, PosixSemaphore.O_CREAT | PosixSemaphore.O_EXCL, 0x180 /* 0600 */, (uint)initialCount);
        if (PosixSemaphore.Failed(sem))
        {
            throw PosixSemaphore.Error("sem_open (create)", name, Marshal.GetLastPInvokeError());
        }
        s_owned.TryAdd(name, 0);
        InstallExitHook();
        Tracking.ResourceTracker.Register(Tracking.ResourceTracker.Semaphore, name);
        return new SharedSemaphore(sem, name, maximumCount, owner: true);
    }

    /// <summary>Opens an existing named semaphore (made by Python or .NET).</summary>
    /// <exception cref="FileNotFoundException">No semaphore has that name.</exception>
    /// <exception cref="IOException">sem_open failed.</exception>
    public static SharedSemaphore Open(string name, int maximumCount = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maximumCount);
        name = NormalizeName(name);
        nint sem = PosixSemaphore.SemOpenExisting(name, 0);
        if (PosixSemaphore.Failed(sem))
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == PosixSemaphore.ENOENT)
            {
                throw new FileNotFoundException($"no named semaphore '{name}'", name);
            }
            throw PosixSemaphore.Error("sem_open", name, errno);
        }
        return new SharedSemaphore(sem, name, maximumCount, owner: false);
    }

    /// <summary>Waits until the count is positive, then decrements it.</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    /// <exception cref="IOException">sem_wait failed.</exception>
    public void Wait()
    {
        var sem = Handle();
        while (PosixSemaphore.SemWait(sem) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != PosixSemaphore.EINTR)
            {
                throw PosixSemaphore.Error("sem_wait", Name, errno);
            }
        }
    }

    /// <summary>Waits at most <paramref name="timeout"/> (<see cref="Timeout.InfiniteTimeSpan"/> for ever; zero = try once).</summary>
    /// <returns>True if the count was decremented, false on timeout.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A negative timeout other than infinite.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    /// <exception cref="IOException">sem_timedwait failed.</exception>
    public bool Wait(TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan || timeout > TimeSpan.FromDays(3650))
        {
            Wait();
            return true;
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        var sem = Handle();
        if (PosixSemaphore.SemTryWait(sem) == 0)
        {
            return true;
        }
        int errno = Marshal.GetLastPInvokeError();
        if (errno != PosixSemaphore.EAGAIN && errno != PosixSemaphore.EINTR)
        {
            throw PosixSemaphore.Error("sem_trywait", Name, errno);
        }
        if (timeout == TimeSpan.Zero)
        {
            return false;
        }
        long deadlineTicks = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks + timeout.Ticks;
        var deadline = new PosixSemaphore.Timespec
        {
            Seconds = deadlineTicks / TimeSpan.TicksPerSecond,
            Nanoseconds = deadlineTicks % TimeSpan.TicksPerSecond * 100,
        };
        while (PosixSemaphore.SemTimedWait(sem, deadline) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            if (errno == PosixSemaphore.ETIMEDOUT)
            {
                return false;
            }
            if (errno != PosixSemaphore.EINTR)
            {
                throw PosixSemaphore.Error("sem_timedwait", Name, errno);
            }
        }
        return true;
    }

    /// <summary>Waits at most <paramref name="millisecondsTimeout"/> ms (-1 for ever).</summary>
    /// <returns>True if the count was decremented, false on timeout.</returns>
    /// <exception cref="ArgumentOutOfRangeException">Negative other than -1.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool Wait(int millisecondsTimeout) =>
        Wait(millisecondsTimeout == Timeout.Infinite ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(millisecondsTimeout));

    /// <summary>Increments the count, waking one waiter in any process.</summary>
    /// <exception cref="SemaphoreFullException">The count would exceed <see cref="MaximumCount"/> (Python: "semaphore or lock released too many times").</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Release()
    {
        var sem = Handle();
        if (MaximumCount != int.MaxValue && PosixSemaphore.SemGetValue(sem, out int value) == 0 && value >= MaximumCount)
        {
            throw new SemaphoreFullException($"semaphore or lock '{Name}' released too many times");
        }
        if (PosixSemaphore.SemPost(sem) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == PosixSemaphore.EOVERFLOW)
            {
                throw new SemaphoreFullException($"semaphore '{Name}' overflowed");
            }
            throw PosixSemaphore.Error("sem_post", Name, errno);
        }
    }

    /// <summary>Removes the name (owner only); open handles keep working. Idempotent.</summary>
    /// <exception cref="InvalidOperationException">This object did not create the semaphore.</exception>
    public void Unlink()
    {
        if (!IsOwner)
        {
            throw new InvalidOperationException($"only the creator of semaphore '{Name}' may unlink it");
        }
        if (Interlocked.Exchange(ref _unlinked, 1) == 0)
        {
            s_owned.TryRemove(Name, out _);
            PosixSemaphore.SemUnlink(Name);
            Tracking.ResourceTracker.Unregister(Tracking.ResourceTracker.Semaphore, Name);
        }
    }

    /// <summary>Closes this process's handle (sem_close). Idempotent.</summary>
    public void Dispose()
    {
        nint sem = Interlocked.Exchange(ref _sem, 0);
        if (sem != 0)
        {
            PosixSemaphore.SemClose(sem);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"SharedSemaphore({Name}, max={MaximumCount}{(IsOwner ? ", owner" : "")})";

    internal static string NormalizeName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!name.StartsWith('/'))
        {
            name = "/" + name;
        }
        if (name.Length < 2 || name.IndexOf('/', 1) >= 0 || name.Contains('\0') || name.Length > 250)
        {
            throw new ArgumentException($"'{name}' is not a valid semaphore name", nameof(name));
        }
        return name;
    }

    private nint Handle()
    {
        nint sem = Volatile.Read(ref _sem);
        ObjectDisposedException.ThrowIf(sem == 0, this);
        return sem;
    }

    private static void InstallExitHook()
    {
        if (Interlocked.Exchange(ref s_exitHookInstalled, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += static (_, _) =>
            {
                foreach (var name in s_owned.Keys)
                {
                    PosixSemaphore.SemUnlink(name);
                    Tracking.ResourceTracker.Unregister(Tracking.ResourceTracker.Semaphore, name);
                }
                s_owned.Clear();
            };
        }
    }
}
