using System.Diagnostics;
using Bridge.Internal;

namespace Bridge;

/*
 * Design notes (the stdlib's multiprocessing Condition, shared by Python and .NET; Bridge/SHARED.md)
 *
 * - A condition is four named semaphores: the lock (a Lock or an RLock: value 1), "sleeping"
 *   (waiters announced), "woken" (waiters that came back, woken or timed out) and "wait" (the
 *   tokens notify hands out). This is CPython's Lib/multiprocessing/synchronize.py Condition, step
 *   for step, so a Python process and a .NET process wait on and notify one condition:
 *     wait:   check the lock is ours; sleeping += 1; release the lock (every level of an RLock);
 *             take a "wait" token (or time out); woken += 1; re-acquire the lock as often.
 *     notify: check the lock is ours; net out the waiters that timed out (for each "woken" token
 *             take one "sleeping"); hand up to n "wait" tokens to announced sleepers; wait until each
 *             of them signalled "woken"; drain "wait" tokens left by sleepers that timed out meanwhile.
 * - "Ours" is Python's SemLock._is_mine(): this object acquired the lock, last on this thread. The
 *   lock's recursion count is kept per process (as SemLock does), so another process only sees a
 *   held semaphore. Where Python asserts ownership (wait, notify) we throw SynchronizationLockException.
 * - Descriptor: dotbridge.condition:v1;lock=/…;lockkind=lock|rlock;sleeping=/…;woken=/…;wait=/…
 *   (Python: cond.descriptor / dotbridge.synchronize.open_condition(text)).
 * - Like Python's, a notifier whose woken sleeper died before signalling "woken" waits for ever:
 *   the algorithm has no way to tell. Every wait here blocks the calling thread.
 */

/// <summary>
/// Python's <c>multiprocessing.Condition</c> / <c>dotbridge.Condition</c> seen from .NET: the stdlib's
/// algorithm over the same four named semaphores, so Python and .NET processes wait on and notify one condition.
/// </summary>
/// <remarks>
/// <para>Open a Python condition with the text of <c>cond.descriptor</c>; make one here with
/// <see cref="Create"/> and pass <see cref="Descriptor"/> to Python's <c>dotbridge.synchronize.open_condition</c>.</para>
/// <para>Thread-safety: all members are thread-safe; <see cref="Wait"/>, <see cref="WaitFor"/>,
/// <see cref="Notify"/> and <see cref="NotifyAll"/> must be called by the thread holding the lock.</para>
/// </remarks>
public sealed class SharedCondition : IDisposable
{
    internal const string Prefix = "dotbridge.condition:v1";

    private readonly SharedLock? _lock;
    private readonly SharedRLock? _rlock;
    private readonly SharedSemaphore _sleeping;
    private readonly SharedSemaphore _woken;
    private readonly SharedSemaphore _wait;
    private readonly bool _leaveOpen;
    private readonly bool _created;

    private SharedCondition(SharedLock? plainLock, SharedRLock? rlock, SharedSemaphore sleeping, SharedSemaphore woken, SharedSemaphore wait, bool leaveOpen, bool created)
    {
        _lock = plainLock;
        _rlock = rlock;
        _sleeping = sleeping;
        _woken = woken;
        _wait = wait;
        _leaveOpen = leaveOpen;
        _created = created;
        string lockName = plainLock?.Name ?? rlock!.Name;
        Descriptor = $"{Prefix};lock={lockName};lockkind={(rlock is null ? "lock" : "rlock")};sleeping={sleeping.Name};woken={woken.Name};wait={wait.Name}";
    }

    /// <summary>
    /// The text Python's <c>dotbridge.synchronize.open_condition</c> (and <see cref="Open"/>) takes:
    /// <c>dotbridge.condition:v1;lock=/…;lockkind=lock|rlock;sleeping=/…;woken=/…;wait=/…</c>.
    /// </summary>
    public string Descriptor { get; }

    /// <summary>True if the lock is an RLock (Python's default for <c>Condition()</c>), false for a plain Lock.</summary>
    public bool IsRecursive => _rlock is not null;

    /// <summary>The lock's semaphore name (with its leading slash).</summary>
    public string LockName => _lock?.Name ?? _rlock!.Name;

    /// <summary>Opens the condition a Python <c>dotbridge.Condition().descriptor</c> (or a .NET <see cref="Descriptor"/>) describes.</summary>
    /// <exception cref="FormatException">Not a condition descriptor, or a field is missing.</exception>
    /// <exception cref="FileNotFoundException">A semaphore no longer exists.</exception>
    public static SharedCondition Open(string descriptor)
    {
        var fields = SyncDescriptor.Parse(descriptor, Prefix, "condition");
        return OpenFields(fields, descriptor, "condition");
    }

    /// <summary>Opens the condition named by the condition fields of a descriptor (the event and barrier descriptors embed them).</summary>
    internal static SharedCondition OpenFields(Dictionary<string, string> fields, string text, string what)
    {
        string lockName = SyncDescriptor.Required(fields, "lock", text, what);
        string kind = fields.TryGetValue("lockkind", out var k) && k.Length > 0 ? k : "rlock";
        if (kind is not ("lock" or "rlock"))
        {
            throw new FormatException($"{what} descriptor has lockkind '{kind}' (lock or rlock): '{text}'");
        }
        string sleepingName = SyncDescriptor.Required(fields, "sleeping", text, what);
        string wokenName = SyncDescriptor.Required(fields, "woken", text, what);
        string waitName = SyncDescriptor.Required(fields, "wait", text, what);
        var opened = new List<IDisposable>();
        try
        {
            SharedLock? plainLock = null;
            SharedRLock? rlock = null;
            if (kind == "lock")
            {
                opened.Add(plainLock = SharedLock.Open(lockName));
            }
            else
            {
                opened.Add(rlock = SharedRLock.Open(lockName));
            }
            SharedSemaphore sleeping, woken, wait;
            opened.Add(sleeping = SharedSemaphore.Open(sleepingName));
            opened.Add(woken = SharedSemaphore.Open(wokenName));
            opened.Add(wait = SharedSemaphore.Open(waitName));
            return new SharedCondition(plainLock, rlock, sleeping, woken, wait, leaveOpen: false, created: false);
        }
        catch
        {
            foreach (var d in opened)
            {
                d.Dispose();
            }
            throw;
        }
    }

    /// <summary>Creates a new condition (its lock an RLock, as Python's <c>Condition()</c>, unless <paramref name="recursive"/> is false); this process owns the names.</summary>
    /// <exception cref="IOException">sem_open failed.</exception>
    public static SharedCondition Create(bool recursive = true)
    {
        var made = new List<IDisposable>();
        try
        {
            SharedLock? plainLock = null;
            SharedRLock? rlock = null;
            if (recursive)
            {
                made.Add(rlock = SharedRLock.Create());
            }
            else
            {
                made.Add(plainLock = SharedLock.Create());
            }
            SharedSemaphore sleeping, woken, wait;
            made.Add(sleeping = SharedSemaphore.Create(null, 0));
            made.Add(woken = SharedSemaphore.Create(null, 0));
            made.Add(wait = SharedSemaphore.Create(null, 0));
            return new SharedCondition(plainLock, rlock, sleeping, woken, wait, leaveOpen: false, created: true);
        }
        catch
        {
            foreach (var d in made)
            {
                UnlinkIfOwner(d);
                d.Dispose();
            }
            throw;
        }
    }

    /// <summary>
    /// A condition over pieces already open (Python's <c>Condition(lock)</c> over a lock you already share):
    /// <paramref name="sleeping"/>, <paramref name="woken"/> and <paramref name="wait"/> are counting semaphores made with value 0.
    /// </summary>
    /// <param name="lock">The condition's lock (a plain Lock).</param>
    /// <param name="sleeping">Python's <c>_sleeping_count</c>.</param>
    /// <param name="woken">Python's <c>_woken_count</c>.</param>
    /// <param name="wait">Python's <c>_wait_semaphore</c>.</param>
    /// <param name="leaveOpen">If true, <see cref="Dispose"/> leaves the pieces open (the caller disposes them).</param>
    public static SharedCondition FromParts(SharedLock @lock, SharedSemaphore sleeping, SharedSemaphore woken, SharedSemaphore wait, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        CheckParts(sleeping, woken, wait);
        return new SharedCondition(@lock, null, sleeping, woken, wait, leaveOpen, created: false);
    }

    /// <summary>A condition over pieces already open, its lock an RLock; see the <see cref="SharedLock"/> overload.</summary>
    /// <param name="lock">The condition's lock (an RLock).</param>
    /// <param name="sleeping">Python's <c>_sleeping_count</c>.</param>
    /// <param name="woken">Python's <c>_woken_count</c>.</param>
    /// <param name="wait">Python's <c>_wait_semaphore</c>.</param>
    /// <param name="leaveOpen">If true, <see cref="Dispose"/> leaves the pieces open (the caller disposes them).</param>
    public static SharedCondition FromParts(SharedRLock @lock, SharedSemaphore sleeping, SharedSemaphore woken, SharedSemaphore wait, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(@lock);
        CheckParts(sleeping, woken, wait);
        return new SharedCondition(null, @lock, sleeping, woken, wait, leaveOpen, created: false);
    }

    /// <summary>Acquires the lock (again, for an RLock already held by this thread).</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Acquire()
    {
        if (_rlock is not null)
        {
            _rlock.Acquire();
        }
        else
        {
            _lock!.Acquire();
        }
    }

    /// <summary>Tries to acquire the lock within <paramref name="timeout"/> (zero: try once).</summary>
    /// <returns>True if acquired.</returns>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool TryAcquire(TimeSpan timeout) =>
        _rlock?.TryAcquire(SyncDescriptor.Normalize(timeout)) ?? _lock!.TryAcquire(SyncDescriptor.Normalize(timeout));

    /// <summary>Releases the lock (one level of an RLock).</summary>
    /// <exception cref="SynchronizationLockException">The lock is not held (by this thread, for an RLock).</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Release()
    {
        if (_rlock is not null)
        {
            _rlock.Release();
        }
        else
        {
            _lock!.Release();
        }
    }

    /// <summary>Acquires the lock and returns a scope whose <c>Dispose</c> releases it: <c>using (cond.EnterScope()) { … }</c>.</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public Scope EnterScope()
    {
        Acquire();
        return new Scope(this);
    }

    /// <summary>
    /// Releases the lock, sleeps until notified (from any process) or until <paramref name="timeout"/> passes,
    /// then re-acquires the lock. Python's <c>Condition.wait(timeout)</c>.
    /// </summary>
    /// <param name="timeout">Null or <see cref="Timeout.InfiniteTimeSpan"/>: for ever; negative: zero.</param>
    /// <returns>False if the wait timed out.</returns>
    /// <exception cref="SynchronizationLockException">The current thread does not hold the lock.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public bool Wait(TimeSpan? timeout = null)
    {
        if (!IsMine)
        {
            throw new SynchronizationLockException("must acquire() condition before using wait()");
        }
        TimeSpan wait = SyncDescriptor.Normalize(timeout);
        _sleeping.Release();
        int count = LockCount;
        for (int i = 0; i < count; i++)
        {
            Release();
        }
        try
        {
            return _wait.Wait(wait);
        }
        finally
        {
            _woken.Release();
            for (int i = 0; i < count; i++)
            {
                Acquire();
            }
        }
    }

    /// <summary>
    /// Waits until <paramref name="predicate"/> is true (checked under the lock, first before any wait) or
    /// <paramref name="timeout"/> passes. Python's <c>Condition.wait_for</c>.
    /// </summary>
    /// <returns>The last value of the predicate.</returns>
    /// <exception cref="SynchronizationLockException">The current thread does not hold the lock (when a wait is needed).</exception>
    public bool WaitFor(Func<bool> predicate, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        bool result = predicate();
        if (result)
        {
            return true;
        }
        TimeSpan limit = SyncDescriptor.Normalize(timeout);
        long start = Stopwatch.GetTimestamp();
        while (!result)
        {
            TimeSpan? left = null;
            if (limit != Timeout.InfiniteTimeSpan)
            {
                left = limit - Stopwatch.GetElapsedTime(start);
                if (left <= TimeSpan.Zero)
                {
                    break;
                }
            }
            Wait(left);
            result = predicate();
        }
        return result;
    }

    /// <summary>Wakes up to <paramref name="n"/> waiters (in any process) and returns once they have woken. Python's <c>Condition.notify(n)</c>.</summary>
    /// <exception cref="SynchronizationLockException">The current thread does not hold the lock.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Notify(int n = 1)
    {
        if (!IsMine)
        {
            throw new SynchronizationLockException("lock is not owned");
        }
        // Python asserts here that no "wait" token is left over; a notifier that died mid-notify could leave one.
        _wait.Wait(TimeSpan.Zero);
        // Net out the sleepers that timed out since the last notify.
        while (_woken.Wait(TimeSpan.Zero))
        {
            _sleeping.Wait(TimeSpan.Zero);
        }
        int sleepers = 0;
        while (sleepers < n && _sleeping.Wait(TimeSpan.Zero))
        {
            _wait.Release();
            sleepers++;
        }
        if (sleepers > 0)
        {
            for (int i = 0; i < sleepers; i++)
            {
                _woken.Wait();
            }
            // Re-zero "wait" in case some sleepers timed out instead of taking their token.
            while (_wait.Wait(TimeSpan.Zero))
            {
            }
        }
    }

    /// <summary>Wakes every waiter in every process. Python's <c>Condition.notify_all()</c>.</summary>
    /// <exception cref="SynchronizationLockException">The current thread does not hold the lock.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void NotifyAll() => Notify(int.MaxValue);

    /// <summary>Removes the four names (only a condition made by <see cref="Create"/>); open handles keep working. Idempotent.</summary>
    /// <exception cref="InvalidOperationException">Not created here.</exception>
    public void Unlink()
    {
        if (!_created)
        {
            throw new InvalidOperationException("only the creator of a condition may unlink it");
        }
        UnlinkIfOwner(_lock);
        UnlinkIfOwner(_rlock);
        _sleeping.Unlink();
        _woken.Unlink();
        _wait.Unlink();
    }

    /// <summary>Closes the semaphore handles (unless made with <c>leaveOpen</c>). Idempotent.</summary>
    public void Dispose()
    {
        if (_leaveOpen)
        {
            return;
        }
        _lock?.Dispose();
        _rlock?.Dispose();
        _sleeping.Dispose();
        _woken.Dispose();
        _wait.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"SharedCondition({LockName}, {(IsRecursive ? "rlock" : "lock")})";

    // Python's self._lock._semlock._is_mine().
    internal bool IsMine => _rlock?.IsHeldByCurrentThread ?? _lock!.IsMine;

    // Python's self._lock._semlock._count().
    private int LockCount => _rlock?.RecursionCount ?? _lock!.Count;

    private static void CheckParts(SharedSemaphore sleeping, SharedSemaphore woken, SharedSemaphore wait)
    {
        ArgumentNullException.ThrowIfNull(sleeping);
        ArgumentNullException.ThrowIfNull(woken);
        ArgumentNullException.ThrowIfNull(wait);
    }

    private static void UnlinkIfOwner(IDisposable? part)
    {
        switch (part)
        {
            case SharedLock l when l.IsOwner:
                l.Unlink();
                break;
            case SharedRLock r when r.IsOwner:
                r.Unlink();
                break;
            case SharedSemaphore s when s.IsOwner:
                s.Unlink();
                break;
        }
    }

    /// <summary>A held condition lock; disposing releases it.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly SharedCondition? _condition;

        internal Scope(SharedCondition condition) => _condition = condition;

        /// <summary>Releases the lock.</summary>
        public void Dispose() => _condition?.Release();
    }
}
