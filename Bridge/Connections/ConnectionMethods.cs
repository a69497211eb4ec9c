namespace Bridge.Connections;

/// <summary>
/// Static methods a .NET worker can run on Connection ends given by path (examples and tests:
/// <c>dotbridge.dotnet.method("Bridge.Connections.ConnectionMethods.Echo")</c>).
/// </summary>
public static class ConnectionMethods
{
    /// <summary>
    /// Reads MessagePack values from <paramref name="inPath"/> until the writer closes, sends
    /// each back on <paramref name="outPath"/>, and returns how many it echoed.
    /// </summary>
    public static long Echo(string inPath, string outPath)
    {
        using Connection input = Connection.Open(inPath, readable: true);
        using Connection output = Connection.Open(outPath, readable: false);
        long n = 0;
        while (input.RecvBytes() is { } message)
        {
            output.SendBytes(message);
            n++;
        }
        return n;
    }

    /// <summary>Sends <c>0 .. count-1</c> as MessagePack values on <paramref name="outPath"/>; returns count.</summary>
    public static long SendRange(string outPath, long count)
    {
        using Connection output = Connection.Open(outPath, readable: false);
        for (long i = 0; i < count; i++)
            output.Send(i);
        return count;
    }

    /// <summary>Gets <paramref name="count"/> values from a ValueQueue (<c>q.spec</c>) and puts each back doubled; returns their sum.</summary>
    public static long DoubleFromQueue(string spec, string outSpec, long count)
    {
        using ValueQueue input = ValueQueue.Open(spec);
        using ValueQueue output = ValueQueue.Open(outSpec);
        long sum = 0;
        for (long i = 0; i < count; i++)
        {
            long x = input.Get<long>(TimeSpan.FromSeconds(30));
            sum += x;
            output.Put(2 * x);
        }
        return sum;
    }

    /// <summary>
    /// Receives pickled values (Python's <c>conn.send(obj)</c>) on <paramref name="inPath"/> until the writer
    /// closes, sends each back pickled on <paramref name="outPath"/> (Python: <c>conn.recv()</c>); returns how many.
    /// </summary>
    public static long EchoPickled(string inPath, string outPath)
    {
        using Connection input = Connection.Open(inPath, readable: true);
        using Connection output = Connection.Open(outPath, readable: false);
        long n = 0;
        while (input.RecvBytes() is { } message)
        {
            output.SendPickled(PickleValues.DeserializeObject(message));
            n++;
        }
        return n;
    }

    /// <summary>Python's <c>conn.poll(timeout)</c> from .NET: whether <paramref name="inPath"/> has a message within <paramref name="timeoutMs"/>; then receives it pickled if so (<c>[true, value]</c>, else <c>[false, null]</c>).</summary>
    public static object?[] PollThenRecv(string inPath, int timeoutMs)
    {
        using Connection input = Connection.Open(inPath, readable: true);
        return input.Poll(TimeSpan.FromMilliseconds(timeoutMs)) ? [true, input.RecvPickled()] : [false, null];
    }
}
