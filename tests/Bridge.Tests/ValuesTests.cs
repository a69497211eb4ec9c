using System.Numerics;
using MessagePack;

namespace Bridge.Tests;

/// <summary>The value codec (<see cref="MsgPackValues"/>): every row of PROTOCOL.md "Values", both ways, and its errors.</summary>
[Parallelizable(ParallelScope.All)]
public class ValuesTests
{
    private static T RoundTrip<T>(object? value) => MsgPackValues.Deserialize<T>(MsgPackValues.Serialize(value));

    private static string Hex(object? value) => Convert.ToHexString(MsgPackValues.Serialize(value)).ToLowerInvariant();

    private delegate void Writes(ref MessagePackWriter writer);

    private static byte[] Pack(Writes write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static ValueConversionException ConvertFails<T>(object? value) =>
        Assert.Throws<ValueConversionException>(() => RoundTrip<T>(value))!;

    [Test]
    public void Nil_bool_and_strings_round_trip()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Hex(null), Is.EqualTo("c0"));
            Assert.That(RoundTrip<string?>(null), Is.Null);
            Assert.That(RoundTrip<long?>(null), Is.Null);
            Assert.That(RoundTrip<long?>(5L), Is.EqualTo(5));
            Assert.That(RoundTrip<bool>(true), Is.True);
            Assert.That(RoundTrip<string>("héllo ✓ 🎉"), Is.EqualTo("héllo ✓ 🎉"));
            Assert.That(RoundTrip<char>('é'), Is.EqualTo('é'));
            Assert.That(Hex('a'), Is.EqualTo("a161"));
        });
    }

    [Test]
    public void Integers_use_the_smallest_form_and_convert_to_every_integer_type()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Hex(1), Is.EqualTo("01"));
            Assert.That(Hex(-1L), Is.EqualTo("ff"));
            Assert.That(Hex((byte)200), Is.EqualTo("ccc8"));
            Assert.That(Hex(ulong.MaxValue), Is.EqualTo("cfffffffffffffffff"));
            Assert.That(Hex(long.MinValue), Is.EqualTo("d38000000000000000"));
            Assert.That(RoundTrip<sbyte>(-128), Is.EqualTo(-128));
            Assert.That(RoundTrip<byte>(255L), Is.EqualTo(255));
            Assert.That(RoundTrip<short>(-32768), Is.EqualTo(-32768));
            Assert.That(RoundTrip<ushort>(65535), Is.EqualTo(65535));
            Assert.That(RoundTrip<int>(int.MinValue), Is.EqualTo(int.MinValue));
            Assert.That(RoundTrip<uint>(uint.MaxValue), Is.EqualTo(uint.MaxValue));
            Assert.That(RoundTrip<long>(long.MaxValue), Is.EqualTo(long.MaxValue));
            Assert.That(RoundTrip<ulong>(ulong.MaxValue), Is.EqualTo(ulong.MaxValue));
            Assert.That(RoundTrip<object>(ulong.MaxValue), Is.EqualTo(ulong.MaxValue));
            Assert.That(RoundTrip<object>(7), Is.TypeOf<long>());
        });
    }

    [Test]
    public void An_integer_out_of_range_names_both_types()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ConvertFails<byte>(300).Message, Is.EqualTo("cannot convert int 300 to Byte: out of range"));
            Assert.That(ConvertFails<int>(1L << 40).Message, Is.EqualTo("cannot convert int 1099511627776 to Int32: out of range"));
            Assert.That(ConvertFails<long>(ulong.MaxValue).Message, Is.EqualTo("cannot convert int 18446744073709551615 to Int64: out of range"));
            Assert.That(ConvertFails<ulong>(-1).Message, Is.EqualTo("cannot convert int -1 to UInt64: out of range"));
            var big = ConvertFails<long>(BigInteger.Pow(2, 70));
            Assert.That(big.Message, Is.EqualTo("cannot convert ext 1 (big int) 1180591620717411303424 to Int64: out of range"));
            Assert.That(big.TargetType, Is.EqualTo(typeof(long)));
        });
    }

    [Test]
    public void Big_integers_travel_as_ext_1_only_beyond_64_bits()
    {
        var big = BigInteger.Pow(2, 64);
        Assert.Multiple(() =>
        {
            Assert.That(Hex(big), Is.EqualTo("c70901" + "010000000000000000"));
            Assert.That(Hex(-big - 1), Is.EqualTo("c70901feffffffffffffffff"));
            Assert.That(Hex(new BigInteger(5)), Is.EqualTo("05"));
            Assert.That(Hex((BigInteger)ulong.MaxValue), Is.EqualTo("cfffffffffffffffff"));
            Assert.That(RoundTrip<BigInteger>(big), Is.EqualTo(big));
            Assert.That(RoundTrip<BigInteger>(-big * big), Is.EqualTo(-big * big));
            Assert.That(RoundTrip<object>(big), Is.EqualTo(big));
            Assert.That(RoundTrip<BigInteger>(42L), Is.EqualTo(new BigInteger(42)));
            // An ext 1 that fits is accepted where a long is wanted.
            Assert.That(MsgPackValues.Deserialize<long>(Convert.FromHexString("c7010105")), Is.EqualTo(5));
        });
    }

    [Test]
    public void Floats_are_float64_and_ints_convert_to_them()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Hex(1.5), Is.EqualTo("cb3ff8000000000000"));
            Assert.That(Hex(1.5f), Is.EqualTo("cb3ff8000000000000"));
            Assert.That(RoundTrip<double>(0.1), Is.EqualTo(0.1));
            Assert.That(RoundTrip<float>(2.5), Is.EqualTo(2.5f));
            Assert.That(RoundTrip<double>(3L), Is.EqualTo(3.0));
            Assert.That(MsgPackValues.Deserialize<double>(Convert.FromHexString("ca3fc00000")), Is.EqualTo(1.5), "float32 accepted");
            Assert.That(ConvertFails<long>(1.5).Message, Is.EqualTo("cannot convert float to Int64"));
        });
    }

    [Test]
    public void Bytes_travel_as_bin()
    {
        byte[] data = [0, 1, 255];
        Assert.Multiple(() =>
        {
            Assert.That(Hex(data), Is.EqualTo("c40300 01ff".Replace(" ", "")));
            Assert.That(Hex(new ReadOnlyMemory<byte>(data)), Is.EqualTo("c4030001ff"));
            Assert.That(Hex(new ArraySegment<byte>(data, 1, 2)), Is.EqualTo("c40201ff"));
            Assert.That(RoundTrip<byte[]>(data), Is.EqualTo(data));
            Assert.That(RoundTrip<ReadOnlyMemory<byte>>(data).ToArray(), Is.EqualTo(data));
            Assert.That(RoundTrip<object>(data), Is.EqualTo(data));
            Assert.That(RoundTrip<byte[]>(new object[] { 1, 2 }), Is.EqualTo(new byte[] { 1, 2 }));
            // A uint8 ext 2 (a numpy uint8 array) becomes byte[], which goes back as bin.
            Assert.That(MsgPackValues.DeserializeObject(Convert.FromHexString("c70302" + "0300ff")), Is.EqualTo(new byte[] { 0, 255 }));
        });
    }

    [Test]
    public void Primitive_arrays_travel_as_ext_2_and_come_back_typed()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Hex(new[] { 1, -2 }), Is.EqualTo("c7090206" + "01000000" + "feffffff"));
            Assert.That(Hex(new double[] { 0.5 }), Is.EqualTo("c709020b" + "000000000000e03f"));
            Assert.That(Hex(new uint[] { 1 }), Is.EqualTo("c7050207" + "01000000"));
            Assert.That(RoundTrip<double[]>(new[] { 1.0, -2.5 }), Is.EqualTo(new[] { 1.0, -2.5 }));
            Assert.That(RoundTrip<bool[]>(new[] { true, false }), Is.EqualTo(new[] { true, false }));
            Assert.That(RoundTrip<object>(new long[] { 1, 2 }), Is.EqualTo(new long[] { 1, 2 }).And.TypeOf<long[]>());
            Assert.That(RoundTrip<object>(new sbyte[] { -1 }), Is.TypeOf<sbyte[]>());
            Assert.That(RoundTrip<object>(new ushort[] { 1 }), Is.TypeOf<ushort[]>());
            Assert.That(RoundTrip<object>(new float[] { 1 }), Is.TypeOf<float[]>());
            Assert.That(RoundTrip<Memory<int>>(new[] { 4, 5 }).ToArray(), Is.EqualTo(new[] { 4, 5 }));
            // An array parameter also takes a plain array, and an ext 2 of another dtype converts element-wise.
            Assert.That(RoundTrip<int[]>(new object[] { 1L, 2L }), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(RoundTrip<int[]>(new long[] { 1, 2 }), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(RoundTrip<double[]>(new int[] { 1, 2 }), Is.EqualTo(new[] { 1.0, 2.0 }));
            Assert.That(RoundTrip<List<double>>(new double[] { 1 }), Is.EqualTo(new List<double> { 1 }));
            Assert.That(ConvertFails<byte[]>(new long[] { 1, 300 }).Message, Does.StartWith("cannot convert ext 2 (int64 array) to Byte[]"));
        });
    }

    [Test]
    public void Ext_2_bodies_are_checked()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => MsgPackValues.DeserializeObject(Convert.FromHexString("d502" + "0601")), Throws.TypeOf<ValueConversionException>()
                .With.Message.Contains("not a whole number"));
            Assert.That(() => MsgPackValues.DeserializeObject(Convert.FromHexString("d40263")), Throws.TypeOf<ValueConversionException>()
                .With.Message.Contains("unknown ext 2 dtype code 99"));
            Assert.That(() => MsgPackValues.DeserializeObject(Convert.FromHexString("d40900")), Throws.TypeOf<ValueConversionException>()
                .With.Message.Contains("ext 9"));
        });
    }

    [Test]
    public void Lists_and_their_interfaces_come_from_arrays()
    {
        var list = new List<string> { "a", "b" };
        Assert.Multiple(() =>
        {
            Assert.That(Hex(list), Is.EqualTo("92a161a162"));
            Assert.That(RoundTrip<List<string>>(list), Is.EqualTo(list));
            Assert.That(RoundTrip<IList<string>>(list), Is.EqualTo(list));
            Assert.That(RoundTrip<IReadOnlyList<string>>(list), Is.EqualTo(list));
            Assert.That(RoundTrip<IEnumerable<string>>(list), Is.EqualTo(list));
            Assert.That(RoundTrip<string[]>(list), Is.EqualTo(list));
            Assert.That(RoundTrip<object?[]>(new object?[] { 1L, "x", null }), Is.EqualTo(new object?[] { 1L, "x", null }));
            Assert.That(RoundTrip<List<long>[]>(new[] { new[] { 1L }, new[] { 2L, 3L } }), Has.Length.EqualTo(2));
            Assert.That(RoundTrip<object>(Enumerable.Range(0, 3).Select(i => i * 2)), Is.EqualTo(new object[] { 0L, 2L, 4L }));
        });
    }

    [Test]
    public void Dictionaries_come_from_maps()
    {
        var d = new Dictionary<string, long> { ["a"] = 1, ["b"] = 2 };
        Assert.Multiple(() =>
        {
            Assert.That(Hex(d), Is.EqualTo("82a16101a16202"));
            Assert.That(RoundTrip<Dictionary<string, long>>(d), Is.EqualTo(d));
            Assert.That(RoundTrip<IDictionary<string, long>>(d), Is.EqualTo(d));
            Assert.That(RoundTrip<IReadOnlyDictionary<string, double>>(d)["b"], Is.EqualTo(2.0));
            Assert.That(RoundTrip<Dictionary<long, string>>(new Dictionary<int, string> { [1] = "x" })[1], Is.EqualTo("x"));
            Assert.That(RoundTrip<object>(d), Is.EqualTo(new Dictionary<object, object?> { ["a"] = 1L, ["b"] = 2L }));
        });
    }

    [Test]
    public void Tuples_travel_as_arrays_by_position()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Hex((1, "a")), Is.EqualTo("9201a161"));
            Assert.That(Hex(Tuple.Create(1, "a")), Is.EqualTo("9201a161"));
            Assert.That(RoundTrip<(long, string)>((1, "a")), Is.EqualTo((1L, "a")));
            Assert.That(RoundTrip<Tuple<int, double>>(new object[] { 1, 2.0 }), Is.EqualTo(Tuple.Create(1, 2.0)));
            var nine = (1, 2, 3, 4, 5, 6, 7, 8, 9);
            Assert.That(Hex(nine), Is.EqualTo("99010203040506070809"));
            Assert.That(RoundTrip<(int, int, int, int, int, int, int, int, int)>(nine), Is.EqualTo(nine));
            Assert.That(ConvertFails<(long, long)>(new object[] { 1 }).Message,
                Is.EqualTo("cannot convert array to ValueTuple<Int64, Int64> (an array of 1 elements for a tuple of 2)"));
        });
    }

    [Test]
    public void Enums_travel_as_their_value()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Hex(DayOfWeek.Friday), Is.EqualTo("05"));
            Assert.That(RoundTrip<DayOfWeek>(5), Is.EqualTo(DayOfWeek.Friday));
            Assert.That(RoundTrip<DayOfWeek>("Monday"), Is.EqualTo(DayOfWeek.Monday));
        });
    }

    [Test]
    public void A_wrong_kind_names_the_messagepack_type_and_the_dotnet_type()
    {
        Assert.Multiple(() =>
        {
            var e = ConvertFails<long>("x");
            Assert.That(e.Message, Is.EqualTo("cannot convert str to Int64"));
            Assert.That(e.MessagePackType, Is.EqualTo("str"));
            Assert.That(ConvertFails<string>(1).Message, Is.EqualTo("cannot convert int to String"));
            Assert.That(ConvertFails<bool>(1).Message, Is.EqualTo("cannot convert int to Boolean"));
            Assert.That(ConvertFails<long>(null).Message, Is.EqualTo("cannot convert nil to Int64"));
            Assert.That(ConvertFails<char>("ab").Message, Is.EqualTo("cannot convert str to Char (a string of length 2, not 1)"));
            Assert.That(ConvertFails<Dictionary<string, long>>(new[] { 1 }).Message, Is.EqualTo("cannot convert ext 2 (int32 array) to Dictionary<String, Int64>"));
            Assert.That(ConvertFails<DateTime>(1).Message, Is.EqualTo("cannot convert int to DateTime"));
        });
    }

    [Test]
    public void A_nested_failure_says_where()
    {
        Assert.Multiple(() =>
        {
            var e = ConvertFails<long[]>(new object[] { 1, 2, "x" });
            Assert.That(e.Message, Is.EqualTo("cannot convert str to Int64 at [2]"));
            Assert.That(e.Path, Is.EqualTo("[2]"));
            var m = ConvertFails<Dictionary<string, List<int>>>(new Dictionary<string, object> { ["k"] = new object[] { 1, 1.5 } });
            Assert.That(m.Message, Is.EqualTo("cannot convert float to Int32 at [\"k\"][1]"));
        });
    }

    [Test]
    public void A_value_without_a_messagepack_form_cannot_be_written()
    {
        var e = Assert.Throws<ValueConversionException>(() => MsgPackValues.Serialize(new object[] { 1, new Dictionary<string, object> { ["when"] = DateTime.UnixEpoch } }))!;
        Assert.Multiple(() =>
        {
            Assert.That(e.Message, Does.StartWith("cannot encode DateTime as MessagePack"));
            Assert.That(e.Path, Is.EqualTo("[1][\"when\"]"));
            Assert.That(e.TargetType, Is.EqualTo(typeof(DateTime)));
        });
    }

    [Test]
    public void Nesting_is_limited_both_ways()
    {
        object? deep = 1L;
        for (int i = 0; i < 70; i++)
        {
            deep = new object?[] { deep };
        }
        var cycle = new List<object>();
        cycle.Add(cycle);
        Assert.Multiple(() =>
        {
            Assert.That(() => MsgPackValues.Serialize(deep), Throws.TypeOf<ValueConversionException>().With.Message.Contains("deeper"));
            Assert.That(() => MsgPackValues.Serialize(cycle), Throws.TypeOf<ValueConversionException>().With.Message.Contains("deeper"));
            var bytes = MsgPackValues.Serialize(deep, maxDepth: 100);
            Assert.That(() => MsgPackValues.DeserializeObject(bytes), Throws.TypeOf<ValueConversionException>().With.Message.Contains("deeper"));
            Assert.That(() => MsgPackValues.Deserialize<object?[]>(bytes), Throws.TypeOf<ValueConversionException>().With.Message.Contains("deeper"));
            Assert.That(MsgPackValues.DeserializeObject(bytes, maxDepth: 100), Is.TypeOf<object?[]>());
        });
    }

    [Test]
    public void Sixty_four_levels_are_allowed()
    {
        object? value = 1L;
        for (int i = 0; i < 63; i++)
        {
            value = new object?[] { value };
        }
        var bytes = MsgPackValues.Serialize(value);
        Assert.That(MsgPackValues.DeserializeObject(bytes), Is.TypeOf<object?[]>());
        Assert.That(() => MsgPackValues.Serialize(new object?[] { value }), Throws.TypeOf<ValueConversionException>());
    }

    [Test]
    public void Trailing_bytes_are_refused()
    {
        Assert.That(() => MsgPackValues.DeserializeObject(new byte[] { 0x01, 0x02 }),
            Throws.TypeOf<ValueConversionException>().With.Message.Contains("trailing"));
    }

    [Test]
    public void The_untyped_graph_uses_the_documented_types()
    {
        var bytes = Pack((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(7);
            w.WriteNil();
            w.Write(true);
            w.Write(-5);
            w.Write(2.5f);
            w.Write("s");
            w.Write(new byte[] { 1 });
            w.WriteMapHeader(1);
            w.Write(1);
            w.WriteArrayHeader(0);
        });
        var graph = (object?[])MsgPackValues.DeserializeObject(bytes)!;
        Assert.Multiple(() =>
        {
            Assert.That(graph[0], Is.Null);
            Assert.That(graph[1], Is.TypeOf<bool>());
            Assert.That(graph[2], Is.TypeOf<long>());
            Assert.That(graph[3], Is.TypeOf<double>());
            Assert.That(graph[4], Is.TypeOf<string>());
            Assert.That(graph[5], Is.TypeOf<byte[]>());
            Assert.That(graph[6], Is.TypeOf<Dictionary<object, object?>>());
            Assert.That(((Dictionary<object, object?>)graph[6]!)[1L], Is.EqualTo(Array.Empty<object>()));
        });
    }
}
