using System.Diagnostics;
using Bridge.Connections;

namespace Bridge.Tests;

/// <summary><see cref="Connection"/>'s pickle mode and <see cref="Connection.Poll"/> against Python's own <c>conn.send</c>/<c>conn.recv</c>/<c>conn.poll</c>.</summary>
public class ConnectionPickleTests
{
    [Test]
    [CancelAfter(60_000)]
    public void Pickled_values_and_poll_match_python_send_recv_poll()
    {
        using var child = SharedMemoryPythonChild.Start("""
            import sys
            import dotbridge
            from dotbridge.connection import path_of
            to_net_r, to_net_w = dotbridge.Pipe(duplex=False)
            from_net_r, from_net_w = dotbridge.Pipe(duplex=False)
            print(path_of(to_net_r), path_of(from_net_w), flush=True)
            sys.stdin.readline()                     # .NET polled an empty pipe
            to_net_w.send({"k": (1, 2.5), "big": 2 ** 90})
            to_net_w.send(complex(1, 2))
            print(from_net_r.poll(20), repr(from_net_r.recv()), flush=True)
            """);
        string[] paths = child.ReadLine().Split(' ');
        using var input = Connection.Open(paths[0], readable: true);
        using var output = Connection.Open(paths[1], readable: false);
        var sw = Stopwatch.StartNew();
        Assert.That(input.Poll(TimeSpan.FromMilliseconds(200)), Is.False, "nothing sent yet");
        Assert.That(sw.Elapsed, Is.GreaterThan(TimeSpan.FromMilliseconds(150)));
        Assert.That(input.Poll(TimeSpan.Zero), Is.False);
        child.WriteLine("go");
        Assert.That(input.Poll(TimeSpan.FromSeconds(20)), Is.True);
        var d = (Dictionary<object, object?>)input.RecvPickled()!;
        Assert.That(d["k"], Is.EqualTo(new PickleTuple(1L, 2.5)));
        Assert.That(d["big"], Is.EqualTo(System.Numerics.BigInteger.Pow(2, 90)));
        var e = Assert.Throws<PickleFormatException>(() => input.RecvPickled())!;
        Assert.That(e.PythonType, Is.EqualTo("builtins.complex"));
        output.SendPickled(new List<object?> { "reply", (1L, null as object) });
        Assert.That(child.ReadLine(), Is.EqualTo("True ['reply', (1, None)]"));
        Assert.That(child.WaitForExit().ExitCode, Is.EqualTo(0));
        Assert.Throws<InvalidOperationException>(() => output.Poll(TimeSpan.Zero), "write-only end");
        using var memory = new Connection(new MemoryStream(), null);
        Assert.Throws<NotSupportedException>(() => memory.Poll(TimeSpan.Zero));
    }
}
