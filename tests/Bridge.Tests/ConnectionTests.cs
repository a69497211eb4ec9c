using System.Buffers.Binary;
using System.Diagnostics;
using Bridge.Connections;

namespace Bridge.Tests;

/// <summary><see cref="Connection"/>: the stdlib's Connection framing, byte and value mode, against Python itself.</summary>
[Parallelizable(ParallelScope.All)]
public class ConnectionTests
{
    [Test]
    public void Bytes_and_values_round_trip_through_one_stream()
    {
        var ms = new MemoryStream();
        using (var w = new Connection(null, new NonClosing(ms)))
        {
            w.SendBytes([1, 2, 3]);
            w.SendBytes([]);
            w.Send(new object?[] { 1L, "two", null });
        }
        Assert.That(ms.ToArray()[..7], Is.EqualTo(new byte[] { 0, 0, 0, 3, 1, 2, 3 }));
        ms.Position = 0;
        using var r = new Connection(ms, null);
        Assert.That(r.RecvBytes(), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(r.RecvBytes(), Is.Empty);
        Assert.That(r.Recv<List<object?>>(), Is.EqualTo(new object?[] { 1L, "two", null }));
        Assert.That(r.RecvBytes(), Is.Null, "clean end of file");
        Assert.Throws<EndOfStreamException>(() => r.Recv());
    }

    [Test]
    public void Reads_the_large_message_escape()
    {
        var bytes = new byte[12 + 2];
        BinaryPrimitives.WriteInt32BigEndian(bytes, -1);
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(4), 2);
        bytes[12] = 7;
        bytes[13] = 8;
        using var r = new Connection(new MemoryStream(bytes), null);
        Assert.That(r.RecvBytes(), Is.EqualTo(new byte[] { 7, 8 }));
    }

    [Test]
    public void Truncated_or_oversized_messages_throw()
    {
        using var cut = new Connection(new MemoryStream([0, 0, 0, 5, 1, 2]), null);
        Assert.Throws<IOException>(() => cut.RecvBytes());
        using var head = new Connection(new MemoryStream([0, 0]), null);
        Assert.Throws<IOException>(() => head.RecvBytes());
        using var huge = new Connection(new MemoryStream([0x7f, 0xff, 0xff, 0xff]), null);
        Assert.Throws<IOException>(() => huge.RecvBytes());
    }

    [Test]
    public void One_way_ends_refuse_the_other_direction_and_dispose_is_idempotent()
    {
        var r = new Connection(new MemoryStream(), null);
        Assert.Throws<InvalidOperationException>(() => r.SendBytes([1]));
        r.Dispose();
        r.Dispose();
        Assert.Throws<ObjectDisposedException>(() => r.RecvBytes());
        Assert.Throws<ArgumentException>(() => _ = new Connection(null, null));
    }

    [Test]
    [CancelAfter(60_000)]
    public void Python_reads_what_dotnet_wrote_and_the_other_way_round()
    {
        var python = SharedMemoryPythonChild.FindPython();
        var src = SharedMemoryPythonChild.FindPythonSource();
        if (python is null || src is null)
        {
            Assert.Ignore("no Python with the dotbridge sources found");
        }
        var dir = Directory.CreateTempSubdirectory("dotbridge-conn-test-");
        try
        {
            string toPy = Path.Combine(dir.FullName, "to-py"), fromPy = Path.Combine(dir.FullName, "from-py");
            using (var w = new Connection(null, File.Create(toPy)))
            {
                w.Send(new Dictionary<string, object?> { ["n"] = 42L, ["xs"] = new[] { 1.5, 2.5 } });
                w.SendBytes("raw"u8);
            }
            const string script = """
                import os, sys
                from multiprocessing.connection import Connection
                from dotbridge.connection import recv_value, send_value
                r = Connection(os.open(sys.argv[1], os.O_RDONLY), writable=False)
                v = recv_value(r)
                assert v["n"] == 42 and list(v["xs"]) == [1.5, 2.5], v
                assert r.recv_bytes() == b"raw"
                w = Connection(os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o600), readable=False)
                send_value(w, ["ok", 2 ** 70])
                w.send_bytes(bytes(range(256)) * 400)
                w.close()
                """;
            var psi = new ProcessStartInfo(python!) { RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "-c", script, toPy, fromPy })
            {
                psi.ArgumentList.Add(a);
            }
            psi.Environment["PYTHONPATH"] = src;
            using var p = Process.Start(psi)!;
            string err = p.StandardError.ReadToEnd();
            Assert.That(p.WaitForExit(30_000), Is.True, "python child timed out");
            Assert.That(p.ExitCode, Is.EqualTo(0), err);
            using var r = new Connection(File.OpenRead(fromPy), null);
            var got = (object?[])r.Recv()!;
            Assert.That(got[0], Is.EqualTo("ok"));
            Assert.That(got[1], Is.EqualTo(System.Numerics.BigInteger.Pow(2, 70)));
            Assert.That(r.RecvBytes()!.Length, Is.EqualTo(256 * 400));
            Assert.That(r.RecvBytes(), Is.Null);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void ValueQueue_made_by_python_carries_values_both_ways()
    {
        using var child = SharedMemoryPythonChild.Start("""
            import sys
            from dotbridge.queues import ValueQueue
            q = ValueQueue()
            q.put(41); q.put("x")
            print(q.spec, flush=True)
            sys.stdin.readline()          # .NET has put its value
            print(q.get(timeout=10), flush=True)
            q.close()
            """);
        using var q = ValueQueue.Open(child.ReadLine());
        Assert.That(q.Get<long>(TimeSpan.FromSeconds(10)), Is.EqualTo(41));
        Assert.That(q.TryGet(TimeSpan.FromSeconds(10), out var x), Is.True);
        Assert.That(x, Is.EqualTo("x"));
        Assert.That(q.TryGet(TimeSpan.FromMilliseconds(50), out _), Is.False, "empty: times out");
        q.Put(new Dictionary<string, object?> { ["from"] = ".NET" });
        child.WriteLine("go");
        Assert.That(child.ReadLine(), Is.EqualTo("{'from': '.NET'}"));
        Assert.That(child.WaitForExit().ExitCode, Is.EqualTo(0));
        Assert.Throws<ArgumentException>(() => ValueQueue.Open("nonsense"));
    }

    /// <summary>Keeps the MemoryStream readable after the writing Connection is disposed.</summary>
    private sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
    }
}
