namespace Bridge.Connections;

/// <summary>
/// Static methods a .NET worker runs on a Python <c>dotbridge.Queue</c>/<c>JoinableQueue</c>/<c>SimpleQueue</c>
/// given by its <c>q.spec</c> (examples, and what tests/python/test_queues_dotnet.py calls:
/// <c>dotbridge.dotnet.method("Bridge.Connections.QueueMethods.Echo")</c>). Every wait is bounded by <c>timeoutMs</c>.
/// </summary>
public static class QueueMethods
{
    /// <summary>Gets <paramref name="count"/> items from <paramref name="inSpec"/> and puts each, unchanged, on <paramref name="outSpec"/>; returns how many.</summary>
    /// <exception cref="TimeoutException">An item did not arrive within <paramref name="timeoutMs"/>.</exception>
    public static long Echo(string inSpec, string outSpec, long count, int timeoutMs)
    {
        using var input = SharedQueue.Open(inSpec);
        using var output = SharedQueue.Open(outSpec);
        var timeout = TimeSpan.FromMilliseconds(timeoutMs);
        for (long i = 0; i < count; i++)
        {
            output.Put(input.Get(timeout), timeout);
        }
        return count;
    }

    /// <summary>Gets <paramref name="count"/> integers and puts each back doubled on <paramref name="outSpec"/>; returns their sum.</summary>
    public static long Double(string inSpec, string outSpec, long count, int timeoutMs)
    {
        using var input = SharedQueue.Open(inSpec);
        using var output = SharedQueue.Open(outSpec);
        var timeout = TimeSpan.FromMilliseconds(timeoutMs);
        long sum = 0;
        for (long i = 0; i < count; i++)
        {
            long x = input.Get<long>(timeout);
            sum += x;
            output.Put(2 * x, timeout);
        }
        return sum;
    }

    /// <summary>Puts <c>start .. start+count-1</c>; returns count.</summary>
    public static long PutRange(string spec, long start, long count, int timeoutMs)
    {
        using var q = SharedQueue.Open(spec);
        for (long i = start; i < start + count; i++)
        {
            q.Put(i, TimeSpan.FromMilliseconds(timeoutMs));
        }
        return count;
    }

    /// <summary>Tries to put one value within <paramref name="timeoutMs"/>; returns whether it went in (false: the queue stayed full).</summary>
    public static bool TryPut(string spec, object? value, int timeoutMs)
    {
        using var q = SharedQueue.Open(spec);
        return q.TryPut(value, TimeSpan.FromMilliseconds(timeoutMs));
    }

    /// <summary>Tries to get one item within <paramref name="timeoutMs"/>: <c>[true, value]</c>, or <c>[false, null]</c> if none came.</summary>
    public static object?[] TryGet(string spec, int timeoutMs)
    {
        using var q = SharedQueue.Open(spec);
        return q.TryGet(TimeSpan.FromMilliseconds(timeoutMs), out object? value) ? [true, value] : [false, null];
    }

    /// <summary>Gets one item and returns the message of the <see cref="PickleFormatException"/> it raises and the type it names (<c>["", ""]</c> if it was a plain value).</summary>
    public static string[] GetRefused(string spec, int timeoutMs)
    {
        using var q = SharedQueue.Open(spec);
        try
        {
            q.Get(TimeSpan.FromMilliseconds(timeoutMs));
            return ["", ""];
        }
        catch (PickleFormatException e)
        {
            return [e.Message, e.PythonType ?? ""];
        }
    }

    /// <summary><c>[qsize, empty, full]</c> as this process sees them.</summary>
    public static object[] Probe(string spec)
    {
        using var q = SharedQueue.Open(spec);
        return [q.QSize(), q.Empty(), q.Full()];
    }

    /// <summary>JoinableQueue consumer: gets items until it gets None, calling <c>TaskDone</c> after each (the None too); returns the sum of the integers.</summary>
    public static long ConsumeTasks(string spec, int timeoutMs)
    {
        using var q = SharedQueue.Open(spec);
        var timeout = TimeSpan.FromMilliseconds(timeoutMs);
        long sum = 0;
        while (true)
        {
            object? item = q.Get(timeout);
            q.TaskDone();
            if (item is null)
            {
                return sum;
            }
            sum += (long)item;
        }
    }

    /// <summary>JoinableQueue: waits in <c>Join</c> up to <paramref name="timeoutMs"/>; returns whether every task was done.</summary>
    public static bool Join(string spec, int timeoutMs)
    {
        using var q = SharedQueue.Open(spec);
        return q.Join(TimeSpan.FromMilliseconds(timeoutMs));
    }

    /// <summary>JoinableQueue: calls <c>TaskDone</c> once; returns "" or the message of the InvalidOperationException (too many calls).</summary>
    public static string TaskDone(string spec)
    {
        using var q = SharedQueue.Open(spec);
        try
        {
            q.TaskDone();
            return "";
        }
        catch (InvalidOperationException e)
        {
            return e.Message;
        }
    }
}
