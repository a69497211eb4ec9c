using System.Numerics;
using Bridge.Connections;

namespace Bridge.Tests;

/// <summary>
/// <see cref="PickleValues"/> against fixed pickles made by CPython 3.11
/// (<c>multiprocessing.reduction.ForkingPickler.dumps(v).hex()</c>, and <c>pickle.dumps(v, protocol=p)</c>).
/// </summary>
public class PickleValuesTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    private static object? Read(string hex) => PickleValues.DeserializeObject(Hex(hex));

    [Test]
    public void Python_scalars_read_as_their_dotnet_values()
    {
        Assert.That(Read("80044e2e"), Is.Null);
        Assert.That(Read("8004882e"), Is.EqualTo(true));
        Assert.That(Read("80044bc82e"), Is.EqualTo(200L));
        Assert.That(Read("80049504000000000000004d409c2e"), Is.EqualTo(40000L));
        Assert.That(Read("80049506000000000000004afbffffff2e"), Is.EqualTo(-5L));
        Assert.That(Read("80049506000000000000004a000000802e"), Is.EqualTo((long)int.MinValue));
        Assert.That(Read("8004950b000000000000008a0800000000000000402e"), Is.EqualTo(1L << 62));
        Assert.That(Read("80049510000000000000008a0d000000000000000000000000102e"), Is.EqualTo(BigInteger.Pow(2, 100)));
        Assert.That(Read("80049510000000000000008a0d000000000000000000000000f02e"), Is.EqualTo(-BigInteger.Pow(2, 100)));
        Assert.That(Read("8004950a0000000000000047bff40000000000002e"), Is.EqualTo(-1.25));
        Assert.That(Read("8004950f000000000000008c0b68c3a96c6c6f20f09f9880942e"), Is.EqualTo("héllo \U0001F600"));
        Assert.That(Read("80049509000000000000008c0561edb28062942e"), Is.EqualTo("a\udc80b"), "a lone surrogate survives (surrogatepass)");
        Assert.That(Read("8004950600000000000000430200ff942e"), Is.EqualTo(new byte[] { 0, 255 }));
        Assert.That(Read("8005950c000000000000009601000000000000007a942e"), Is.EqualTo("z"u8.ToArray()), "protocol 5 bytearray");
    }

    [Test]
    public void Python_containers_read_as_lists_tuples_and_dictionaries()
    {
        var list = (List<object?>)Read("80049519000000000000005d94284b018c01619468015d9447400400000000000061652e")!;
        Assert.That(list, Has.Count.EqualTo(4));
        Assert.That(list[0], Is.EqualTo(1L));
        Assert.That(list[1], Is.SameAs(list[2]), "the memo (BINGET) gives the same string object");
        Assert.That((List<object?>)list[3]!, Is.EqualTo(new object?[] { 2.5 }));

        Assert.That(Read("8004950c00000000000000284b014b024b034b0474942e"), Is.EqualTo(new PickleTuple(1L, 2L, 3L, 4L)));
        Assert.That(Read("80049504000000000000004e85942e"), Is.EqualTo(new PickleTuple([null])));

        var dict = (Dictionary<object, object?>)Read("80049518000000000000007d94288c016b945d944b01614b014b02869443017694752e")!;
        Assert.That((List<object?>)dict["k"]!, Is.EqualTo(new object?[] { 1L }));
        Assert.That(dict[new PickleTuple(1L, 2L)], Is.EqualTo("v"u8.ToArray()), "a tuple key is found by value");

        var nested = (Dictionary<object, object?>)Read("80049513000000000000007d948c0161947d948c0162945d94738594732e")!;
        var inner = (PickleTuple)nested["a"]!;
        Assert.That(((Dictionary<object, object?>)inner[0]!)["b"], Is.InstanceOf<List<object?>>());
    }

    [TestCase("80027d71002858010000006171015d7102284b014b024b038671036558010000006271048a09000000000000000040752e", TestName = "Protocol_2_pickle_reads")]
    [TestCase("80037d71002858010000006171015d7102284b014b024b038671036558010000006271048a09000000000000000040752e", TestName = "Protocol_3_pickle_reads")]
    [TestCase("80059524000000000000007d94288c0161945d94284b014b024b038694658c0162948a09000000000000000040752e", TestName = "Protocol_5_pickle_reads")]
    public void Other_protocols_read_the_same(string hex)
    {
        // {'a': [1, (2, 3)], 'b': 2**70}
        var d = (Dictionary<object, object?>)Read(hex)!;
        Assert.That(d["a"], Is.EqualTo(new List<object?> { 1L, new PickleTuple(2L, 3L) }));
        Assert.That(d["b"], Is.EqualTo(BigInteger.Pow(2, 70)));
    }

    [Test]
    public void A_recursive_list_reads_as_a_list_that_holds_itself()
    {
        // l = []; l.append(l)
        var l = (List<object?>)Read("80049506000000000000005d946800612e")!;
        Assert.That(l[0], Is.SameAs(l));
    }

    [TestCase("8004952e000000000000008c086275696c74696e73948c07636f6d706c6578949394473ff0000000000000474000000000000000869452942e", "builtins.complex")]
    [TestCase("80049529000000000000008c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c0161944b01732e", "collections.OrderedDict")]
    [TestCase("8002635f5f6275696c74696e5f5f0a636f6d706c65780a7100473ff00000000000004740000000000000008671015271022e", "__builtin__.complex")]
    [TestCase("80049507000000000000008f94284b01902e", "builtins.set")]
    [TestCase("8004950600000000000000284b0191942e", "builtins.frozenset")]
    public void Objects_of_other_types_are_refused_with_their_type_named(string hex, string type)
    {
        var e = Assert.Throws<PickleFormatException>(() => Read(hex))!;
        Assert.That(e.PythonType, Is.EqualTo(type));
        Assert.That(e.Message, Does.Contain(type));
    }

    [TestCase("8004", TestName = "A_pickle_without_STOP_is_malformed")]
    [TestCase("80048c05616263", TestName = "A_cut_string_is_malformed")]
    [TestCase("80048cff2e", TestName = "A_length_beyond_the_data_is_malformed")]
    [TestCase("8004682a2e", TestName = "A_BINGET_of_nothing_stored_is_malformed")]
    [TestCase("80044b01612e", TestName = "APPEND_onto_an_int_is_malformed")]
    [TestCase("8004652e", TestName = "APPENDS_without_a_MARK_is_malformed")]
    [TestCase("8004582e", TestName = "A_cut_length_is_malformed")]
    [TestCase("80047d4e4b01732e", TestName = "A_None_dict_key_is_refused")]
    [TestCase("8004524e2e", TestName = "REDUCE_is_refused")]
    [TestCase("80044930310a2e", TestName = "Protocol_0_text_opcodes_are_refused")]
    [TestCase("8006", TestName = "A_protocol_newer_than_5_is_refused")]
    public void Bad_or_unsupported_pickles_throw(string hex)
    {
        Assert.Throws<PickleFormatException>(() => Read(hex));
    }

    [Test]
    public void Written_pickles_match_what_Python_writes_for_unframed_values()
    {
        // Python frames pickles of 4+ bytes of payload; these are too short for a FRAME, so byte-identical.
        Assert.That(Convert.ToHexStringLower(PickleValues.Serialize(null)), Is.EqualTo("80044e2e"));
        Assert.That(Convert.ToHexStringLower(PickleValues.Serialize(true)), Is.EqualTo("8004882e"));
        Assert.That(Convert.ToHexStringLower(PickleValues.Serialize(200)), Is.EqualTo("80044bc82e"));
        Assert.That(Convert.ToHexStringLower(PickleValues.Serialize(new List<int>())), Is.EqualTo("80045d2e"));
        // and the rest without the FRAME/MEMOIZE Python adds: 40000 = BININT2
        Assert.That(Convert.ToHexStringLower(PickleValues.Serialize(40000L)), Is.EqualTo("80044d409c2e"));
    }

    private static IEnumerable<object?> RoundTripValues()
    {
        yield return null;
        yield return false;
        yield return 0L;
        yield return 255L;
        yield return 256L;
        yield return 65535L;
        yield return 65536L;
        yield return -1L;
        yield return (long)int.MaxValue + 1;
        yield return long.MinValue;
        yield return long.MaxValue;
        yield return BigInteger.Pow(-3, 301);
        yield return BigInteger.Pow(2, 5000); // LONG4
        yield return double.NegativeInfinity;
        yield return -0.0;
        yield return 1e-310;
        yield return "";
        yield return "ascii";
        yield return new string('é', 200); // > 255 bytes: BINUNICODE
        yield return "lone \ud800 high, \udfff low, pair \U0001F600";
        yield return Array.Empty<byte>();
        yield return Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        yield return new List<object?> { 1L, "a", null, new List<object?>() };
        yield return Enumerable.Range(0, 2500).Select(i => (object?)(long)i).ToList(); // several APPENDS batches
        yield return new PickleTuple();
        yield return new PickleTuple(1L);
        yield return new PickleTuple(1L, "b", 2.5, new PickleTuple(), true);
        yield return new Dictionary<object, object?> { ["k"] = new List<object?> { 1L }, [new PickleTuple(1L, 2L)] = null, [7L] = 8.5 };
    }

    [TestCaseSource(nameof(RoundTripValues))]
    public void Dotnet_values_round_trip_through_a_pickle(object? value)
    {
        Assert.That(PickleValues.DeserializeObject(PickleValues.Serialize(value)), Is.EqualTo(value));
    }

    [Test]
    public void Other_dotnet_types_write_as_their_python_counterparts()
    {
        Assert.That(Read(Convert.ToHexString(PickleValues.Serialize((1, "two", 3.0)))), Is.EqualTo(new PickleTuple(1L, "two", 3.0)));
        Assert.That(Read(Convert.ToHexString(PickleValues.Serialize(new[] { 1, 2 }))), Is.EqualTo(new List<object?> { 1L, 2L }));
        Assert.That(Read(Convert.ToHexString(PickleValues.Serialize(ulong.MaxValue))), Is.EqualTo(new BigInteger(ulong.MaxValue)));
        Assert.That(Read(Convert.ToHexString(PickleValues.Serialize('c'))), Is.EqualTo("c"));
        Assert.That(Read(Convert.ToHexString(PickleValues.Serialize(1.5f))), Is.EqualTo(1.5));
        Assert.That(Read(Convert.ToHexString(PickleValues.Serialize(DayOfWeek.Friday))), Is.EqualTo(5L));
        Assert.That(Read(Convert.ToHexString(PickleValues.Serialize(new ReadOnlyMemory<byte>([1, 2])))), Is.EqualTo(new byte[] { 1, 2 }));
    }

    [Test]
    public void Unpicklable_and_cyclic_dotnet_values_are_refused()
    {
        Assert.Throws<ValueConversionException>(() => PickleValues.Serialize(new object()));
        Assert.Throws<ValueConversionException>(() => PickleValues.Serialize(1.5m));
        var cyclic = new List<object?>();
        cyclic.Add(cyclic);
        Assert.Throws<ValueConversionException>(() => PickleValues.Serialize(cyclic));
    }

    [Test]
    public void Typed_reads_convert_as_MessagePack_values_do()
    {
        Assert.That(PickleValues.Deserialize<int>(PickleValues.Serialize(7L)), Is.EqualTo(7));
        Assert.That(PickleValues.Deserialize<List<string>>(PickleValues.Serialize(new[] { "a", "b" })), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(PickleValues.Deserialize<(long, string)>(PickleValues.Serialize(new PickleTuple(1L, "x"))), Is.EqualTo((1L, "x")));
        var dict = PickleValues.Serialize(new Dictionary<string, object> { ["k"] = 1L, ["j"] = 1.5 });
        Assert.That(PickleValues.Deserialize<Dictionary<string, double>>(dict), Is.EqualTo(new Dictionary<string, double> { ["k"] = 1.0, ["j"] = 1.5 }));
        Assert.Throws<ValueConversionException>(() => PickleValues.Deserialize<byte>(PickleValues.Serialize(300L)));
    }
}

/// <summary>Damaged and hostile pickles: the reader throws <see cref="PickleFormatException"/> and nothing else, and never hangs.</summary>
public class PickleValuesFuzzTests
{
    [Test]
    [CancelAfter(60_000)]
    public void Mutated_and_cut_pickles_read_or_throw_PickleFormatException_only()
    {
        string[] seeds =
        [
            "80049519000000000000005d94284b018c01619468015d9447400400000000000061652e",
            "80049518000000000000007d94288c016b945d944b01614b014b02869443017694752e",
            "80049513000000000000007d948c0161947d948c0162945d94738594732e",
            "80027d71002858010000006171015d7102284b014b024b038671036558010000006271048a09000000000000000040752e",
            "8004952e000000000000008c086275696c74696e73948c07636f6d706c6578949394473ff0000000000000474000000000000000869452942e",
            "80049506000000000000005d946800612e",
        ];
        var rng = new Random(20261123);
        int read = 0, refused = 0;
        for (int round = 0; round < 20_000; round++)
        {
            byte[] data = Convert.FromHexString(seeds[rng.Next(seeds.Length)]);
            int edits = rng.Next(1, 4);
            for (int e = 0; e < edits; e++)
            {
                switch (rng.Next(3))
                {
                    case 0:
                        data[rng.Next(data.Length)] = (byte)rng.Next(256);
                        break;
                    case 1:
                        data = data[..rng.Next(data.Length)];
                        break;
                    default:
                        int at = rng.Next(data.Length + 1);
                        data = [.. data[..at], (byte)rng.Next(256), .. data[at..]];
                        break;
                }
                if (data.Length == 0)
                {
                    data = [0x2e];
                }
            }
            try
            {
                PickleValues.DeserializeObject(data);
                read++;
            }
            catch (PickleFormatException)
            {
                refused++;
            }
        }
        Assert.That(read + refused, Is.EqualTo(20_000));
        Assert.That(refused, Is.GreaterThan(0));
    }

    [Test]
    public void Tuples_nested_beyond_the_limit_are_refused_before_anything_hashes_them()
    {
        // K 1, then TUPLE1 a million times: (((…(1,)…),),)
        var data = new List<byte> { 0x80, 4, (byte)'K', 1 };
        data.AddRange(Enumerable.Repeat((byte)0x85, 1_000_000));
        data.Add((byte)'.');
        var e = Assert.Throws<PickleFormatException>(() => PickleValues.DeserializeObject(data.ToArray()))!;
        Assert.That(e.Message, Does.Contain("nested deeper"));
        var ok = new List<byte> { 0x80, 4, (byte)'K', 1 };
        ok.AddRange(Enumerable.Repeat((byte)0x85, PickleValues.MaxTupleDepth));
        ok.Add((byte)'.');
        Assert.That(PickleValues.DeserializeObject(ok.ToArray()), Is.InstanceOf<PickleTuple>());
    }

    [Test]
    public void Deeply_nested_lists_read_without_recursion()
    {
        // ] ( ] ( ] ... e e e: 100,000 lists, each inside the previous, read by the stack machine
        const int n = 100_000;
        var data = new List<byte> { 0x80, 4 };
        for (int i = 0; i < n; i++)
        {
            data.Add((byte)']');
            data.Add((byte)'(');
        }
        data.Add((byte)'N');
        data.AddRange(Enumerable.Repeat((byte)'e', n));
        data.Add((byte)'.');
        var outer = (List<object?>)PickleValues.DeserializeObject(data.ToArray())!;
        int depth = 0;
        for (object? x = outer; x is List<object?> l; x = l[0])
        {
            depth++;
        }
        Assert.That(depth, Is.EqualTo(n));
    }
}
