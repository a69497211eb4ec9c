using Bridge.Internal;

namespace Bridge;

/// <summary>
/// Python's <c>multiprocessing.Event</c> / <c>dotbridge.Event</c> seen from .NET: the stdlib's own algorithm
/// (a <see cref="SharedCondition"/> over a plain lock, plus a flag semaphore) over the same five named
/// semaphores, so Python and .NET processes set, clear and wait on one event.
/// </summary>
/// <remarks>
/// Open it with the text of Python's <c>event.descriptor</c>:
/// <c>dotbridge.event:v1;lock=/…;sleeping=/…;woken=/…;wait=/…;flag=/…</c>.
/// Thread-safety: all members are thread-safe (they serialize on the shared condition lock).
/// </remarks>
public sealed class SharedEvent : IDisposable
{
    private const string Prefix = "dotbridge.event:v1";
    private readonly SharedCondition _cond;
    private readonly SharedSemaphore _flag;

    private SharedEvent(SharedCondition cond, SharedSemaphore flag)
    {
        _cond = cond;
        _flag = flag;
    }

    /// <summary>Opens the event a Python <c>dotbridge.Event().descriptor</c> describes.</summary>
    /// <exception cref="FormatException">Not an event descriptor.</exception>
    /// <exception cref="FileNotFoundException">A semaphore no longer exists.</exception>
    public static SharedEvent Open(string descriptor)
    {
        var fields = SyncDescriptor.Parse(descriptor, Prefix, "event");
        string flagName = SyncDescriptor.Required(fields, "flag", descriptor, "event");
        fields["lockkind"] = "lock"; // the stdlib's Event: Condition(Lock())
        var cond = SharedCondition.OpenFields(fields, descriptor, "event");
        try
        {
            return new SharedEvent(cond, SharedSemaphore.Open(flagName));
        }
        catch
        {
            cond.Dispose();
            throw;
        }
    }

    /// <summary>Whether the flag is set.</summary>
    public bool IsSet
    {
        get
        {
            using var held = _cond.EnterScope();
            if (_flag.Wait(TimeSpan.Zero))
            {
                _flag.Release();
                return true;
            }
            return false;
        }
    }

    /// <summary>Sets the flag and wakes every waiter in every process.</summary>
    public void Set()
    {
        using var held = _cond.EnterScope();
        _flag.Wait(TimeSpan.Zero);
        _flag.Release();
        _cond.NotifyAll();
    }

    /// <summary>Clears the flag.</summary>
    public void Clear()
    {
        using var held = _cond.EnterScope();
        _flag.Wait(TimeSpan.Zero);
    }

    /// <summary>Waits until the flag is set or <paramref name="timeout"/> passes (<see cref="Timeout.InfiniteTimeSpan"/>: for ever).</summary>
    /// <returns>True if the flag is set.</returns>
    public bool Wait(TimeSpan timeout)
    {
        using var held = _cond.EnterScope();
        if (_flag.Wait(TimeSpan.Zero))
        {
            _flag.Release();
        }
        else
        {
            _cond.Wait(timeout);
        }
        if (_flag.Wait(TimeSpan.Zero))
        {
            _flag.Release();
            return true;
        }
        return false;
    }

    /// <summary>Closes the semaphore handles. Idempotent.</summary>
    public void Dispose()
    {
        _cond.Dispose();
        _flag.Dispose();
    }
}
