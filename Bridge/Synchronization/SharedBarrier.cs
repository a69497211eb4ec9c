using System.Globalization;
using Bridge.Internal;

namespace Bridge;

/*
 * Design notes (the stdlib's multiprocessing Barrier, shared by Python and .NET; Bridge/SHARED.md)
 *
 * - multiprocessing.Barrier is threading.Barrier's algorithm over a multiprocessing Condition and two
 *   C ints in shared memory: [0] _state (0 filling, 1 draining, -1 resetting, -2 broken) and [1] _count
 *   (parties inside wait()). dotbridge's keeps the ints in a RawArray('i', 2) (a named segment) and
 *   its Condition over an RLock; this class runs the same steps on the same segment and semaphores:
 *     wait:  under the lock, wait while draining/resetting; broken -> throw; index = count++;
 *            the last party runs the action and sets draining + notify_all; the others wait_for
 *            state != 0 (a timeout breaks the barrier); finally count--, and the last one out of a
 *            draining/resetting barrier sets filling + notify_all.
 *     abort: broken + notify_all.  reset: resetting if parties are inside, else filling; notify_all.
 * - The ints are read and written only under the condition's lock (as Python does), except for the
 *   snapshots NWaiting and Broken.
 * - Descriptor: dotbridge.barrier:v1;parties=N;timeout=<seconds>|none;segment=db_…;offset=0;
 *   followed by the condition's fields (SharedCondition). The action never travels: each process
 *   runs its own (a Python party runs the Python action, a .NET party the one given here).
 */

/// <summary>
/// Python's <c>multiprocessing.Barrier</c> / <c>dotbridge.Barrier</c> seen from .NET: the stdlib's
/// algorithm over the same condition (four named semaphores) and the same two shared ints, so Python
/// and .NET parties pass one barrier together.
/// </summary>
/// <remarks>
/// <para>Open a Python barrier with the text of <c>barrier.descriptor</c>; make one here with
/// <see cref="Create"/> and pass <see cref="Descriptor"/> to Python's <c>dotbridge.synchronize.open_barrier</c>.</para>
/// <para>Thread-safety: all members are thread-safe; <see cref="Wait"/> blocks the calling thread.</para>
/// </remarks>
public sealed class SharedBarrier : IDisposable
{
    private const string Prefix = "dotbridge.barrier:v1";
    private const int Filling = 0, Draining = 1, Resetting = -1, BrokenState = -2;

    private readonly SharedCondition _cond;
    private readonly SharedArray<int> _array;
    private readonly Action? _action;
    private readonly bool _created;

    private SharedBarrier(SharedCondition cond, SharedArray<int> array, int parties, TimeSpan? timeout, Action? action, bool created)
    {
        _cond = cond;
        _array = array;
        Parties = parties;
        DefaultTimeout = timeout;
        _action = action;
        _created = created;
        string t = timeout is { } ts ? ts.TotalSeconds.ToString("R", CultureInfo.InvariantCulture) : "none";
        string cf = cond.Descriptor[(SharedCondition.Prefix.Length + 1)..];
        Descriptor = $"{Prefix};parties={parties};timeout={t};segment={array.Descriptor.Segment};offset={array.Descriptor.Offset};{cf}";
    }

    /// <summary>
    /// The text Python's <c>dotbridge.synchronize.open_barrier</c> (and <see cref="Open"/>) takes:
    /// <c>dotbridge.barrier:v1;parties=N;timeout=&lt;seconds&gt;|none;segment=db_…;offset=0;lock=/…;lockkind=…;sleeping=/…;woken=/…;wait=/…</c>.
    /// </summary>
    public string Descriptor { get; }

    /// <summary>How many parties must call <see cref="Wait"/> for the barrier to pass (Python's <c>parties</c>).</summary>
    public int Parties { get; }

    /// <summary>The timeout <see cref="Wait"/> uses when given none (Python's <c>timeout</c> argument); null for ever.</summary>
    public TimeSpan? DefaultTimeout { get; }

    /// <summary>How many parties are waiting right now (a snapshot; Python's <c>n_waiting</c>).</summary>
    public int NWaiting => Volatile.Read(ref State) == Filling ? Volatile.Read(ref Count) : 0;

    /// <summary>True if the barrier is broken (Python's <c>broken</c>).</summary>
    public bool Broken => Volatile.Read(ref State) == BrokenState;

    private ref int State => ref _array.AsSpan()[0];

    private ref int Count => ref _array.AsSpan()[1];

    /// <summary>Opens the barrier a Python <c>dotbridge.Barrier(n).descriptor</c> (or a .NET <see cref="Descriptor"/>) describes.</summary>
    /// <param name="descriptor">The descriptor text.</param>
    /// <param name="action">Run by a .NET party that releases the barrier (Python's <c>action</c> stays in Python).</param>
    /// <exception cref="FormatException">Not a barrier descriptor, or a field is missing or bad.</exception>
    /// <exception cref="FileNotFoundException">The segment or a semaphore no longer exists.</exception>
    public static SharedBarrier Open(string descriptor, Action? action = null)
    {
        var fields = SyncDescriptor.Parse(descriptor, Prefix, "barrier");
        if (!int.TryParse(SyncDescriptor.Required(fields, "parties", descriptor, "barrier"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int parties) || parties < 1)
        {
            throw new FormatException($"barrier descriptor has a bad 'parties': '{descriptor}'");
        }
        TimeSpan? timeout = null;
        if (fields.TryGetValue("timeout", out var ts) && ts.Length > 0 && ts != "none")
        {
            if (!double.TryParse(ts, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) || double.IsNaN(seconds))
            {
                throw new FormatException($"barrier descriptor has a bad 'timeout': '{descriptor}'");
            }
            timeout = seconds >= TimeSpan.MaxValue.TotalSeconds ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(Math.Max(0, seconds));
        }
        string segment = SyncDescriptor.Required(fields, "segment", descriptor, "barrier");
        if (!long.TryParse(fields.GetValueOrDefault("offset", "0"), NumberStyles.Integer, CultureInfo.InvariantCulture, out long offset) || offset < 0)
        {
            throw new FormatException($"barrier descriptor has a bad 'offset': '{descriptor}'");
        }
        var array = SharedArray<int>.Open(new SharedCTypeDescriptor(segment, 'i', 2, offset));
        try
        {
            var cond = SharedCondition.OpenFields(fields, descriptor, "barrier");
            return new SharedBarrier(cond, array, parties, timeout, action, created: false);
        }
        catch
        {
            array.Dispose();
            throw;
        }
    }

    /// <summary>Creates a barrier for <paramref name="parties"/> parties (a new segment and condition this process owns).</summary>
    /// <param name="parties">How many parties pass together (at least 1).</param>
    /// <param name="timeout">The default for <see cref="Wait"/>; null for ever.</param>
    /// <param name="action">Run by the .NET party that releases the barrier, before the others wake.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="parties"/> is below 1.</exception>
    /// <exception cref="IOException">sem_open or shm_open failed.</exception>
    public static SharedBarrier Create(int parties, TimeSpan? timeout = null, Action? action = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parties, 1);
        var array = SharedArray<int>.Create(2, withLock: false);
        try
        {
            var cond = SharedCondition.Create(recursive: true);
            return new SharedBarrier(cond, array, parties, timeout, action, created: true);
        }
        catch
        {
            array.Unlink();
            array.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits until <see cref="Parties"/> parties (in any process) have called it, then all pass together.
    /// Python's <c>Barrier.wait(timeout)</c>.
    /// </summary>
    /// <param name="timeout">Null: <see cref="DefaultTimeout"/>; <see cref="Timeout.InfiniteTimeSpan"/>: for ever. Timing out breaks the barrier.</param>
    /// <returns>This party's arrival index, 0 to <see cref="Parties"/> - 1 (the last to arrive gets <see cref="Parties"/> - 1).</returns>
    /// <exception cref="BrokenBarrierException">The barrier is or became broken (aborted, reset, timed out, the action threw).</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public int Wait(TimeSpan? timeout = null)
    {
        timeout ??= DefaultTimeout;
        using var held = _cond.EnterScope();
        Enter();
        int index = Count;
        Count = index + 1;
        try
        {
            if (index + 1 == Parties)
            {
                ReleaseAll();
            }
            else
            {
                WaitReleased(timeout);
            }
            return index;
        }
        finally
        {
            Count -= 1;
            Exit();
        }
    }

    /// <summary>Puts the barrier into the broken state: current and later waits throw <see cref="BrokenBarrierException"/>. Python's <c>abort()</c>.</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Abort()
    {
        using var held = _cond.EnterScope();
        Break();
    }

    /// <summary>Returns the barrier to its empty state; parties waiting now get <see cref="BrokenBarrierException"/>. Python's <c>reset()</c>.</summary>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Reset()
    {
        using var held = _cond.EnterScope();
        if (Count > 0)
        {
            if (State is Filling or BrokenState)
            {
                State = Resetting;
            }
        }
        else
        {
            State = Filling;
        }
        _cond.NotifyAll();
    }

    /// <summary>Removes the segment's and semaphores' names (only a barrier made by <see cref="Create"/>); open handles keep working.</summary>
    /// <exception cref="InvalidOperationException">Not created here.</exception>
    public void Unlink()
    {
        if (!_created)
        {
            throw new InvalidOperationException("only the creator of a barrier may unlink it");
        }
        _array.Unlink();
        _cond.Unlink();
    }

    /// <summary>Closes the mapping and the semaphore handles. Idempotent.</summary>
    public void Dispose()
    {
        _cond.Dispose();
        _array.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => Broken ? "SharedBarrier(broken)" : $"SharedBarrier(waiters={NWaiting}/{Parties})";

    // Block while the barrier drains or resets; throw if it is broken.
    private void Enter()
    {
        while (State is Resetting or Draining)
        {
            _cond.Wait();
        }
        if (State < 0)
        {
            throw new BrokenBarrierException();
        }
    }

    private void ReleaseAll()
    {
        try
        {
            _action?.Invoke();
            State = Draining;
            _cond.NotifyAll();
        }
        catch
        {
            Break();
            throw;
        }
    }

    private void WaitReleased(TimeSpan? timeout)
    {
        if (!_cond.WaitFor(() => State != Filling, timeout))
        {
            Break();
            throw new BrokenBarrierException("the barrier wait timed out (the barrier is now broken)");
        }
        if (State < 0)
        {
            throw new BrokenBarrierException();
        }
    }

    private void Exit()
    {
        if (Count == 0 && (State is Resetting or Draining))
        {
            State = Filling;
            _cond.NotifyAll();
        }
    }

    private void Break()
    {
        State = BrokenState;
        _cond.NotifyAll();
    }
}
