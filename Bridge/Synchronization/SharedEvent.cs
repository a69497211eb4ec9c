namespace Bridge;

/// <summary>
/// Python's <c>multiprocessing.Event</c> / <c>dotbridge.Event</c> seen from .NET: the stdlib's own algorithm
/// (a Condition made of a lock and three semaphores, plus a flag semaphore) over the same five named
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
    private readonly SharedSemaphore _lock;
    private readonly SharedSemaphore _sleeping;
    private readonly SharedSemaphore _woken;
    private readonly SharedSemaphore _wait;
    private readonly SharedSemaphore _flag;

    private SharedEvent(SharedSemaphore[] parts)
    {
        (_lock, _sleeping, _woken, _wait, _flag) = (parts[0], parts[1], parts[2], parts[3], parts[4]);
    }

    /// <summary>Opens the event a Python <c>dotbridge.Event().descriptor</c> describes.</summary>
    /// <exception cref="FormatException">Not an event descriptor.</exception>
    /// <exception cref="FileNotFoundException">A semaphore no longer exists.</exception>
    public static SharedEvent Open(string descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var parts = descriptor.Split(';');
        if (parts[0] != Prefix)
        {
            throw new FormatException($"not a dotbridge event descriptor: '{descriptor}'");
        }
        var fields = new Dictionary<string, string>();
        foreach (var part in parts.AsSpan(1))
        {
            int eq = part.IndexOf('=');
            if (eq > 0)
            {
                fields[part[..eq]] = part[(eq + 1)..];
            }
        }
        string[] keys = ["lock", "sleeping", "woken", "wait", "flag"];
        var opened = new List<SharedSemaphore>();
        try
        {
            foreach (var key in keys)
            {
                if (!fields.TryGetValue(key, out var name))
                {
                    throw new FormatException($"event descriptor lacks '{key}': '{descriptor}'");
                }
                opened.Add(SharedSemaphore.Open(name, key == "lock" ? 1 : int.MaxValue));
            }
            return new SharedEvent([.. opened]);
        }
        catch
        {
            foreach (var s in opened)
            {
                s.Dispose();
            }
            throw;
        }
    }

    /// <summary>Whether the flag is set.</summary>
    public bool IsSet
    {
        get
        {
            using var held = Hold();
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
        using var held = Hold();
        _flag.Wait(TimeSpan.Zero);
        _flag.Release();
        NotifyAll();
    }

    /// <summary>Clears the flag.</summary>
    public void Clear()
    {
        using var held = Hold();
        _flag.Wait(TimeSpan.Zero);
    }

    /// <summary>Waits until the flag is set or <paramref name="timeout"/> passes (<see cref="Timeout.InfiniteTimeSpan"/>: for ever).</summary>
    /// <returns>True if the flag is set.</returns>
    public bool Wait(TimeSpan timeout)
    {
        using var held = Hold();
        if (_flag.Wait(TimeSpan.Zero))
        {
            _flag.Release();
            return true;
        }
        // Condition.wait: announce the sleeper, drop the lock, sleep, announce the wake-up, retake the lock.
        _sleeping.Release();
        _lock.Release();
        try
        {
            _wait.Wait(timeout);
        }
        finally
        {
            _woken.Release();
            _lock.Wait();
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
        foreach (var s in new[] { _lock, _sleeping, _woken, _wait, _flag })
        {
            s.Dispose();
        }
    }

    private Held Hold()
    {
        _lock.Wait();
        return new Held(_lock);
    }

    // Condition.notify_all, as multiprocessing.synchronize.Condition.notify does it (caller holds the lock).
    private void NotifyAll()
    {
        while (_woken.Wait(TimeSpan.Zero))
        {
            _sleeping.Wait(TimeSpan.Zero);
        }
        int sleepers = 0;
        while (_sleeping.Wait(TimeSpan.Zero))
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
            while (_wait.Wait(TimeSpan.Zero))
            {
            }
        }
    }

    private readonly struct Held : IDisposable
    {
        private readonly SharedSemaphore _semaphore;

        public Held(SharedSemaphore semaphore) => _semaphore = semaphore;

        public void Dispose() => _semaphore.Release();
    }
}
