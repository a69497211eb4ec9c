using System.Buffers;
using MessagePack;

namespace Bridge.Tests;

public class SharedMemorySegmentTests
{
    [Test]
    public void Create_then_Open_share_the_same_bytes()
    {
        using var owner = SharedMemorySegment.Create(4096);
        try
        {
            using var other = SharedMemorySegment.Open(owner.Name);
            owner.AsSpan<int>()[3] = 42;
            Assert.That(other.AsSpan<int>()[3], Is.EqualTo(42));
            Assert.That(other.Size, Is.EqualTo(4096));
            Assert.That(other.IsOwner, Is.False);
        }
        finally
        {
            owner.Unlink();
        }
    }

    [Test]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Created_segment_has_an_unguessable_name_and_mode_0600()
    {
        using var seg = SharedMemorySegment.Create(10);
        try
        {
            Assert.That(seg.Name, Does.Match("^db_[0-9a-f]{32}$"));
            var mode = File.GetUnixFileMode("/dev/shm/" + seg.Name);
            Assert.That(mode, Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        }
        finally
        {
            seg.Unlink();
        }
    }

    [Test]
    public void Memory_is_a_view_not_a_copy()
    {
        using var seg = SharedMemorySegment.Create(800);
        try
        {
            var memory = seg.AsMemory<double>(80, 10);
            memory.Span[0] = 1.5;
            Assert.That(seg.AsSpan<double>()[10], Is.EqualTo(1.5));
            using var pin = memory.Pin();
            unsafe
            {
                Assert.That((nint)pin.Pointer, Is.EqualTo(seg.Pointer + 80));
            }
        }
        finally
        {
            seg.Unlink();
        }
    }

    [Test]
    public void Unlink_removes_the_name_and_only_the_owner_may()
    {
        var seg = SharedMemorySegment.Create(16);
        using (var other = SharedMemorySegment.Open(seg.Name))
        {
            Assert.That(() => other.Unlink(), Throws.InvalidOperationException);
        }
        seg.Unlink();
        seg.Unlink();
        Assert.That(File.Exists("/dev/shm/" + seg.Name), Is.False);
        seg.AsSpan()[0] = 1; // the mapping outlives the name
        seg.Dispose();
        Assert.That(() => seg.AsSpan(), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void Bad_arguments_throw()
    {
        Assert.That(() => SharedMemorySegment.Open("db_" + new string('0', 32)), Throws.TypeOf<FileNotFoundException>());
        Assert.That(() => SharedMemorySegment.Create(0), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => SharedMemorySegment.Open("a/b"), Throws.ArgumentException);
        using var seg = SharedMemorySegment.Create(16);
        try
        {
            Assert.That(() => SharedMemorySegment.Create(seg.Name, 16), Throws.InstanceOf<IOException>());
            Assert.That(() => seg.AsSpan<long>(8, 2), Throws.TypeOf<ArgumentOutOfRangeException>());
        }
        finally
        {
            seg.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void Segment_made_by_stdlib_SharedMemory_opens_here()
    {
        using var py = SharedMemoryPythonChild.Start("""
            from multiprocessing import shared_memory
            import struct
            s = shared_memory.SharedMemory(create=True, size=64)
            struct.pack_into('<d', s.buf, 8, 2.5)
            print(s.name, flush=True)
            input()
            print(struct.unpack_from('<d', s.buf, 16)[0], flush=True)
            s.close(); s.unlink()
            """);
        var name = py.ReadLine();
        using (var seg = SharedMemorySegment.Open(name))
        {
            var span = seg.AsSpan<double>();
            Assert.That(span[1], Is.EqualTo(2.5));
            span[2] = 7.25;
        }
        py.WriteLine("go");
        Assert.That(py.ReadLine(), Is.EqualTo("7.25"));
        var (code, stderr) = py.WaitForExit();
        Assert.That(code, Is.EqualTo(0), stderr);
    }

    [Test]
    [CancelAfter(60_000)]
    public void Segment_made_here_opens_in_python_without_being_unlinked_there()
    {
        using var seg = SharedMemorySegment.Create(32);
        try
        {
            seg.AsSpan<long>()[0] = 123;
            using var py = SharedMemoryPythonChild.Start($$"""
                from dotbridge import shared_memory
                import struct
                s = shared_memory.SharedMemory('{{seg.Name}}')
                print(struct.unpack_from('<q', s.buf, 0)[0], flush=True)
                struct.pack_into('<q', s.buf, 8, 456)
                s.close()
                """);
            Assert.That(py.ReadLine(), Is.EqualTo("123"));
            var (code, stderr) = py.WaitForExit();
            Assert.That(code, Is.EqualTo(0), stderr);
            Assert.That(seg.AsSpan<long>()[1], Is.EqualTo(456));
            Assert.That(File.Exists("/dev/shm/" + seg.Name), Is.True, "the child's exit must not unlink our segment (CPython issue 82300)");
        }
        finally
        {
            seg.Unlink();
        }
    }
}

public class ShmArrayRefTests
{
    [Test]
    public void Bytes_round_trip_with_the_protocol_layout()
    {
        var r = new ShmArrayRef("db_abc", 4, 16, [2, 3], writable: true);
        var body = r.ToBytes();
        var expected = new byte[] { 4, 1, 2, 0, 16, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, (byte)'d', (byte)'b', (byte)'_', (byte)'a', (byte)'b', (byte)'c' };
        Assert.That(body, Is.EqualTo(expected));
        var back = ShmArrayRef.Parse(body);
        Assert.That(back.SegmentName, Is.EqualTo("db_abc"));
        Assert.That(back.Shape, Is.EqualTo(new long[] { 2, 3 }));
        Assert.That(back.Count, Is.EqualTo(6));
        Assert.That(back.ElementType, Is.EqualTo(typeof(short)));
        Assert.That(back.Writable, Is.True);
        Assert.That(back.ByteOffset, Is.EqualTo(16));
    }

    [Test]
    public void TryRead_reads_ext3_and_leaves_other_values()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        new ShmArrayRef("db_x", 11, 0, [5]).Write(ref writer);
        writer.Write(7);
        writer.Flush();
        var reader = new MessagePackReader(buffer.WrittenMemory);
        Assert.That(ShmArrayRef.TryRead(ref reader, out var r), Is.True);
        Assert.That(r!.ElementType, Is.EqualTo(typeof(double)));
        Assert.That(ShmArrayRef.TryRead(ref reader, out var none), Is.False);
        Assert.That(none, Is.Null);
        Assert.That(reader.ReadInt32(), Is.EqualTo(7));
    }

    [Test]
    public void Malformed_bodies_are_rejected()
    {
        Assert.That(() => ShmArrayRef.Parse(new byte[] { 11, 1 }), Throws.TypeOf<ValueConversionException>());
        var body = new ShmArrayRef("db_x", 11, 0, [5]).ToBytes();
        body[0] = 99;
        Assert.That(() => ShmArrayRef.Parse(body), Throws.TypeOf<ValueConversionException>());
        body[0] = 11;
        body[1] = 2;
        Assert.That(() => ShmArrayRef.Parse(body), Throws.TypeOf<ValueConversionException>());
    }

    [Test]
    public void Maps_in_place_and_checks_bounds_and_type()
    {
        using var seg = SharedMemorySegment.Create(80);
        try
        {
            var r = new ShmArrayRef(seg.Name, 11, 16, [8]);
            using (var mapped = r.Open())
            {
                r.AsSpan<double>(mapped)[0] = 3.5;
                Assert.That(() => r.AsSpan<float>(mapped), Throws.TypeOf<ValueConversionException>());
            }
            Assert.That(seg.AsSpan<double>()[2], Is.EqualTo(3.5));
            Assert.That(((double[])r.ToArray())[0], Is.EqualTo(3.5));
            var tooBig = new ShmArrayRef(seg.Name, 11, 16, [9]);
            Assert.That(() => tooBig.Open(), Throws.TypeOf<ValueConversionException>());
        }
        finally
        {
            seg.Unlink();
        }
    }

    [Test]
    public void MapMemory_in_a_call_scope_is_closed_when_the_scope_ends()
    {
        using var seg = SharedMemorySegment.Create(64);
        try
        {
            var r = new ShmArrayRef(seg.Name, 11, 0, [8]);
            Memory<double> memory;
            using (Bridge.Internal.ShmCallScope.Begin())
            {
                memory = r.MapMemory<double>();
                memory.Span[7] = 2.5;
                Assert.That(() => r.MapMemory<long>(), Throws.TypeOf<ValueConversionException>());
            }
            Assert.That(seg.AsSpan<double>()[7], Is.EqualTo(2.5));
            Assert.That(() => memory.Span[0], Throws.TypeOf<ObjectDisposedException>());
        }
        finally
        {
            seg.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void Python_ext3_of_a_shm_ndarray_maps_here_and_writes_show_up_there()
    {
        using var py = SharedMemoryPythonChild.Start("""
            from dotbridge import shared_memory as sm
            a = sm.ndarray(100, 'float64')
            a[:] = 1.0
            print(sm.encode_shm_ref(a[10:20]).hex(), flush=True)
            input()
            print(a[9], a[10], a[19], a[20], flush=True)
            """);
        var body = Convert.FromHexString(py.ReadLine());
        var r = ShmArrayRef.Parse(body);
        Assert.That(r.Count, Is.EqualTo(10));
        double sum;
        using (var seg = r.Open())
        {
            sum = SharedMemoryFixtures.SumAndScale(r.AsMemory<double>(seg), 3.0);
        }
        Assert.That(sum, Is.EqualTo(10.0));
        py.WriteLine("go");
        Assert.That(py.ReadLine(), Is.EqualTo("1.0 3.0 3.0 1.0"));
        Assert.That(py.WaitForExit().ExitCode, Is.EqualTo(0));
    }
}

public class SharedValueTests
{
    [Test]
    public void Value_and_array_made_here_reopen_from_their_descriptor()
    {
        using var v = SharedValue<double>.Create(1.5);
        using var a = SharedArray<int>.Create(4, withLock: false);
        try
        {
            Assert.That(v.Descriptor.ToString(), Does.Match("^dotbridge\\.shm:v1;segment=db_[0-9a-f]{32};typecode=d;length=1;offset=0;lock=/db_[0-9a-f]{32}$"));
            using var v2 = SharedValue<double>.Open(v.Descriptor.ToString());
            v2.Value = 2.5;
            Assert.That(v.Value, Is.EqualTo(2.5));
            using var a2 = SharedArray<int>.Open(a.Descriptor.ToString());
            a2[3] = 9;
            Assert.That(a.ToArray(), Is.EqualTo(new[] { 0, 0, 0, 9 }));
            Assert.That(a2.GetLock(), Is.Null);
            Assert.That(() => SharedValue<int>.Open(v.Descriptor.ToString()), Throws.ArgumentException);
            Assert.That(() => SharedValue<int>.Open(a.Descriptor.ToString()), Throws.ArgumentException);
        }
        finally
        {
            v.Unlink();
            a.Unlink();
        }
    }

    [Test]
    public void Descriptor_parse_rejects_garbage()
    {
        Assert.That(() => SharedCTypeDescriptor.Parse("x"), Throws.TypeOf<FormatException>());
        Assert.That(() => SharedCTypeDescriptor.Parse("dotbridge.shm:v1;segment=db_a;typecode=Z;length=1"), Throws.TypeOf<FormatException>());
        Assert.That(() => SharedCTypeDescriptor.Parse("dotbridge.shm:v1;typecode=d;length=1"), Throws.TypeOf<FormatException>());
        var d = SharedCTypeDescriptor.Parse("dotbridge.shm:v1;segment=db_a;typecode=q;length=3;offset=8;future=1");
        Assert.That((d.Segment, d.Typecode, d.Length, d.Offset, d.LockName), Is.EqualTo(("db_a", 'q', 3, 8L, (string?)null)));
    }

    [Test]
    [CancelAfter(120_000)]
    public void Python_Value_and_Array_are_read_and_written_here_under_their_lock()
    {
        using var py = SharedMemoryPythonChild.Start("""
            from dotbridge import sharedctypes as sc
            v = sc.Value('q', 0)
            a = sc.Array('d', [1.0, 2.0, 3.0])
            print(v.descriptor, flush=True)
            print(a.descriptor, flush=True)
            input()
            for _ in range(20000):
                with v.get_lock():
                    v.value += 1
            print('done', flush=True)
            input()
            print(v.value, a[:], flush=True)
            """);
        var valueDescriptor = py.ReadLine();
        var arrayDescriptor = py.ReadLine();
        using var array = SharedArray<double>.Open(arrayDescriptor);
        Assert.That(array.ToArray(), Is.EqualTo(new[] { 1.0, 2.0, 3.0 }));
        array[1] = 20.0;
        py.WriteLine("go");
        long last = SharedMemoryFixtures.AddToSharedValue(valueDescriptor, 20000);
        Assert.That(py.ReadLine(), Is.EqualTo("done"));
        Assert.That(last, Is.GreaterThanOrEqualTo(20000));
        py.WriteLine("go");
        Assert.That(py.ReadLine(), Is.EqualTo("40000 [1.0, 20.0, 3.0]"));
        Assert.That(py.WaitForExit().ExitCode, Is.EqualTo(0));
    }

    [Test]
    [CancelAfter(60_000)]
    public void Value_made_here_opens_in_python()
    {
        using var v = SharedValue<long>.Create(41);
        try
        {
            using var py = SharedMemoryPythonChild.Start($$"""
                from dotbridge import sharedctypes as sc
                v = sc.open('{{v.Descriptor}}')
                with v.get_lock():
                    v.value += 1
                print(v.value, flush=True)
                """);
            Assert.That(py.ReadLine(), Is.EqualTo("42"));
            Assert.That(py.WaitForExit().ExitCode, Is.EqualTo(0));
            Assert.That(v.Value, Is.EqualTo(42));
        }
        finally
        {
            v.Unlink();
        }
    }
}
