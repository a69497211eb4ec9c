using System.Buffers;
using System.Buffers.Binary;
using Bridge.Protocol;
using Bridge.Tests.Support;
using Bridge.Transport;
using MessagePack;

namespace Bridge.Tests;

public class ProtocolTests
{
    private static byte[] Frames(Action<FrameWriter> write)
    {
        using var w = new FrameWriter(16);
        write(w);
        return w.WrittenSpan.ToArray();
    }

    private static Frame ReadOne(byte[] data)
    {
        var seq = new ReadOnlySequence<byte>(data);
        Assert.That(Frame.TryReadFrame(ref seq, ProtocolLimits.DefaultMaxFrameBytes, out var f), Is.True);
        Assert.That(seq.Length, Is.EqualTo(0));
        return f;
    }

    private delegate void PackAction(ref MessagePackWriter w);

    private static byte[] Packed(PackAction write)
    {
        var buf = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buf);
        write(ref w);
        w.Flush();
        return buf.WrittenSpan.ToArray();
    }

    private static byte[] WithLength(byte[] body)
    {
        var r = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(r, (uint)body.Length);
        body.CopyTo(r, 4);
        return r;
    }

    [Test]
    public void Every_kind_round_trips()
    {
        byte[] calls = Packed((ref MessagePackWriter w) => { w.WriteArrayHeader(1); w.WriteArrayHeader(2); w.Write(2); w.Write(5); });
        byte[] config = Packed((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("sys_path"); w.WriteArrayHeader(0); });
        var hello = ReadOne(Frames(w => w.WriteHello("dotnet", 42)));
        Assert.That((hello.Kind, hello.Version, hello.WorkerKind, hello.Pid), Is.EqualTo((FrameKind.Hello, 1, "dotnet", 42)));
        var init = ReadOne(Frames(w => w.WriteInit(config)));
        Assert.That(init.Map.ToArray(), Is.EqualTo(config));
        var task = ReadOne(Frames(w => w.WriteTask(7, TaskEncoding.MsgPack, "builtins:pow", calls)));
        Assert.That((task.Kind, task.TaskId, task.Encoding, task.Target), Is.EqualTo((FrameKind.Task, 7L, TaskEncoding.MsgPack, "builtins:pow")));
        Assert.That(task.Payload.ToArray(), Is.EqualTo(calls));
        var pickle = ReadOne(Frames(w => w.WriteTask(8, TaskEncoding.Pickle, (string?)null, new byte[] { 0x80, 5, 1, 2 })));
        Assert.That(pickle.Target, Is.Null);
        Assert.That(pickle.Payload.ToArray(), Is.EqualTo(new byte[] { 0x80, 5, 1, 2 }));
        var result = ReadOne(Frames(w => w.WriteResult(7, TaskEncoding.MsgPack, calls, 123)));
        Assert.That((result.Kind, result.TaskId, result.ElapsedUs), Is.EqualTo((FrameKind.Result, 7L, 123L)));
        Assert.That(result.Payload.ToArray(), Is.EqualTo(calls));
        var err = ReadOne(Frames(w => w.WriteError(9, new ErrorMap { Type = "System.ArgumentException", Message = "bad", Kind = "raised", Index = 1 })));
        Assert.That((err.Kind, err.TaskId, err.HasPickled), Is.EqualTo((FrameKind.Error, 9L, false)));
        var map = ErrorMap.Parse(err.Map);
        Assert.That((map.Type, map.Message, map.Kind, map.Index), Is.EqualTo(("System.ArgumentException", "bad", "raised", (int?)1)));
        var payload = MessagePackSerializer.ConvertToJson(err.Payload);
        Assert.That(payload, Does.StartWith("[{").And.EndWith(",null]"));
        Assert.That(ReadOne(Frames(w => w.WriteStop())).Kind, Is.EqualTo(FrameKind.Stop));
        var fatal = ReadOne(Frames(w => w.WriteFatal(new ErrorMap { Type = "builtins.RuntimeError", Message = "x" })));
        Assert.That(ErrorMap.Parse(fatal.Map).Type, Is.EqualTo("builtins.RuntimeError"));
    }

    [Test]
    public void A_frame_arriving_one_byte_at_a_time_is_read_only_when_complete()
    {
        byte[] data = Frames(w =>
        {
            w.WriteResult(1, TaskEncoding.Pickle, new byte[300], 5);
            w.WriteStop();
        });
        int firstLen = 4 + BinaryPrimitives.ReadInt32BigEndian(data);
        for (int n = 0; n < firstLen; n++)
        {
            var partial = OneByteSegments.Prefix(data, n);
            Assert.That(Frame.TryReadFrame(ref partial, 1 << 20, out _), Is.False, $"after {n} bytes");
            Assert.That(partial.Length, Is.EqualTo(n));
        }
        var all = OneByteSegments.Prefix(data, data.Length);
        Assert.That(Frame.TryReadFrame(ref all, 1 << 20, out var f), Is.True);
        Assert.That((f.Kind, f.Payload.Length), Is.EqualTo((FrameKind.Result, 300)));
        Assert.That(Frame.TryReadFrame(ref all, 1 << 20, out var stop), Is.True);
        Assert.That(stop.Kind, Is.EqualTo(FrameKind.Stop));
        Assert.That(all.Length, Is.EqualTo(0));
    }

    [Test]
    public void Bad_lengths_are_protocol_errors()
    {
        var zero = new ReadOnlySequence<byte>(new byte[] { 0, 0, 0, 0, 0x91 });
        Assert.Throws<ProtocolException>(() => Frame.TryReadFrame(ref zero, 1024, out _));
        // Rejected from the header alone, before the body is buffered.
        var huge = new ReadOnlySequence<byte>(new byte[] { 0, 0, 4, 1 });
        var e = Assert.Throws<ProtocolException>(() => Frame.TryReadFrame(ref huge, 1024, out _));
        Assert.That(e!.Message, Does.Contain("max_frame_bytes"));
    }

    [TestCase(new byte[] { 0x91, 0x06, 0x06 }, "trailing")]
    [TestCase(new byte[] { 0x06 }, "array")]
    [TestCase(new byte[] { 0x92, 0x04 }, "truncated")]
    [TestCase(new byte[] { 0x91, 0x63 }, "unknown frame kind")]
    [TestCase(new byte[] { 0x90 }, "non-empty")]
    [TestCase(new byte[] { 0x91, 0xc1 }, "0xc1")]
    [TestCase(new byte[] { 0x95, 0x04, 0x01, 0x00, 0xc4 }, "")]
    [TestCase(new byte[] { 0x93, 0x03, 0x01, 0x00 }, "TASK")]
    public void Malformed_bodies_are_protocol_errors(byte[] body, string message)
    {
        var seq = new ReadOnlySequence<byte>(WithLength(body));
        var e = Assert.Throws<ProtocolException>(() => Frame.TryReadFrame(ref seq, 1024, out _));
        Assert.That(e!.Message, Does.Contain(message));
    }

    [Test]
    public void Nesting_beyond_the_depth_limit_is_a_protocol_error()
    {
        byte[] deep = Packed((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(5);
            w.Write(4);
            w.Write(1);
            w.Write(1);
            for (int i = 0; i < 70; i++)
                w.WriteArrayHeader(1);
            w.Write(0);
            w.Write(0);
        });
        var seq = new ReadOnlySequence<byte>(WithLength(deep));
        var e = Assert.Throws<ProtocolException>(() => Frame.TryReadFrame(ref seq, 1 << 20, out _));
        Assert.That(e!.Message, Does.Contain("depth"));
    }

    [Test]
    public void Writer_rejects_a_frame_over_its_limit()
    {
        using var w = new FrameWriter(16, maxFrameBytes: 100);
        Assert.Throws<ProtocolException>(() => w.WriteResult(1, TaskEncoding.Pickle, new byte[200], 0));
        Assert.That(w.WrittenCount, Is.EqualTo(0));
        w.WriteStop();
        Assert.That(ReadOne(w.WrittenSpan.ToArray()).Kind, Is.EqualTo(FrameKind.Stop));
    }

    [Test]
    public unsafe void FdFrameReader_reads_frames_written_one_byte_at_a_time_then_clean_eof()
    {
        byte[] data = Frames(w =>
        {
            w.WriteHello("python", 1);
            w.WriteResult(5, TaskEncoding.Pickle, new byte[100_000], 9); // bigger than the reader's buffer
            w.WriteStop();
        });
        int* fds = stackalloc int[2];
        Assert.That(Libc.Pipe2(fds, Libc.O_CLOEXEC), Is.EqualTo(0));
        int rfd = fds[0], wfd = fds[1];
        // Write the first 200 bytes one at a time, then the rest in pipe-sized pieces (keeps the test fast).
        var writer = new Thread(() =>
        {
            int i = 0;
            for (; i < 200; i++)
                FdIO.WriteAll(wfd, data.AsSpan(i, 1));
            FdIO.WriteAll(wfd, data.AsSpan(i));
            FdIO.CloseQuietly(wfd);
        }) { IsBackground = true };
        writer.Start();
        try
        {
            var reader = new FdFrameReader(rfd, bufferSize: 4096);
            Assert.That(reader.TryRead(out var hello), Is.True);
            Assert.That(hello.Kind, Is.EqualTo(FrameKind.Hello));
            Assert.That(reader.TryRead(out var result), Is.True);
            Assert.That((result.TaskId, result.Payload.Length, result.ElapsedUs), Is.EqualTo((5L, 100_000, 9L)));
            Assert.That(reader.TryRead(out var stop), Is.True);
            Assert.That(stop.Kind, Is.EqualTo(FrameKind.Stop));
            Assert.That(reader.TryRead(out _), Is.False);
        }
        finally
        {
            Assert.That(writer.Join(TimeSpan.FromSeconds(10)), Is.True);
            FdIO.CloseQuietly(rfd);
        }
    }

    [Test]
    public unsafe void FdFrameReader_reports_eof_inside_a_frame_as_a_protocol_error()
    {
        int* fds = stackalloc int[2];
        Assert.That(Libc.Pipe2(fds, Libc.O_CLOEXEC), Is.EqualTo(0));
        FdIO.WriteAll(fds[1], new byte[] { 0, 0, 0, 9, 0x91 });
        FdIO.CloseQuietly(fds[1]);
        var reader = new FdFrameReader(fds[0]);
        Assert.Throws<ProtocolException>(() => reader.TryRead(out _));
        FdIO.CloseQuietly(fds[0]);
    }
}
