using System.Numerics;
using Bridge.Interop;

namespace Interop.Tests;

public sealed class ConversionTests
{
    private static PyObject Identity()
    {
        using var g = Py.Exec("def ident(x):\n    return x\ndef typename(x):\n    return type(x).__name__\n");
        return g["ident"];
    }

    private static string PyTypeOf(object? value)
    {
        using var o = Py.From(value);
        return o.PythonTypeName;
    }

    private static T RoundTrip<T>(T value)
    {
        using var ident = Identity();
        return ident.Call<T>(value);
    }

    private static PyObject Eval(string expression) => Py.Eval(expression);

    [Test]
    public void Null_is_None_and_back()
    {
        Assert.That(PyTypeOf(null), Is.EqualTo("NoneType"));
        using var none = Eval("None");
        Assert.That(none.IsNone, Is.True);
        Assert.That(none.As<string?>(), Is.Null);
        Assert.That(none.As<int?>(), Is.Null);
        Assert.That(none.As<object>(), Is.Null);
        Assert.Throws<PythonConversionException>(() => none.As<int>());
    }

    [Test]
    public void Bool_round_trips_and_is_not_an_integer()
    {
        Assert.That(PyTypeOf(true), Is.EqualTo("bool"));
        Assert.That(RoundTrip(true), Is.True);
        Assert.That(RoundTrip(false), Is.False);
        using var t = Eval("True");
        Assert.That(t.As<object>(), Is.EqualTo(true));
        Assert.Throws<PythonConversionException>(() => t.As<long>());
        using var one = Eval("1");
        Assert.Throws<PythonConversionException>(() => one.As<bool>());
    }

    [Test]
    public void Every_integer_type_round_trips()
    {
        Assert.That(RoundTrip(sbyte.MinValue), Is.EqualTo(sbyte.MinValue));
        Assert.That(RoundTrip(byte.MaxValue), Is.EqualTo(byte.MaxValue));
        Assert.That(RoundTrip(short.MinValue), Is.EqualTo(short.MinValue));
        Assert.That(RoundTrip(ushort.MaxValue), Is.EqualTo(ushort.MaxValue));
        Assert.That(RoundTrip(int.MinValue), Is.EqualTo(int.MinValue));
        Assert.That(RoundTrip(uint.MaxValue), Is.EqualTo(uint.MaxValue));
        Assert.That(RoundTrip(long.MinValue), Is.EqualTo(long.MinValue));
        Assert.That(RoundTrip(ulong.MaxValue), Is.EqualTo(ulong.MaxValue));
        Assert.That(RoundTrip((nint)(-5)), Is.EqualTo((nint)(-5)));
        Assert.That(RoundTrip((nuint)5), Is.EqualTo((nuint)5));
        Assert.That(PyTypeOf(ulong.MaxValue), Is.EqualTo("int"));
        using var big = Eval("2**64 - 1");
        Assert.That(big.As<ulong>(), Is.EqualTo(ulong.MaxValue));
    }

    [Test]
    public void Integer_out_of_range_names_both_types()
    {
        using var big = Eval("2**40");
        var ex = Assert.Throws<PythonConversionException>(() => big.As<int>());
        Assert.That(ex!.Message, Does.Contain("'int'").And.Contain("System.Int32"));
        using var negative = Eval("-1");
        Assert.Throws<PythonConversionException>(() => negative.As<uint>());
    }

    [Test]
    public void BigInteger_round_trips_beyond_64_bits()
    {
        var values = new[]
        {
            BigInteger.Pow(2, 200) + 12345, -BigInteger.Pow(3, 150), BigInteger.Zero, new BigInteger(long.MinValue) - 1,
            new BigInteger(ulong.MaxValue), BigInteger.Pow(2, 63), -BigInteger.Pow(2, 63),
        };
        foreach (var v in values)
        {
            Assert.That(RoundTrip(v), Is.EqualTo(v), v.ToString());
            using var o = Py.From(v);
            Assert.That(o.ToString(), Is.EqualTo(v.ToString()));
        }
        using var huge = Eval("-(10**50)");
        Assert.That(huge.As<object>(), Is.EqualTo(-BigInteger.Pow(10, 50)));
        using var small = Eval("7");
        Assert.That(small.As<object>(), Is.EqualTo(7L));
    }

    [Test]
    public void Doubles_and_floats_round_trip()
    {
        Assert.That(RoundTrip(1.5), Is.EqualTo(1.5));
        Assert.That(RoundTrip(double.NaN), Is.NaN);
        Assert.That(RoundTrip(double.NegativeInfinity), Is.EqualTo(double.NegativeInfinity));
        Assert.That(RoundTrip(0.25f), Is.EqualTo(0.25f));
        Assert.That(PyTypeOf(2.0), Is.EqualTo("float"));
        using var i = Eval("3");
        Assert.That(i.As<double>(), Is.EqualTo(3.0)); // int widens to double
        using var s = Eval("'3'");
        Assert.Throws<PythonConversionException>(() => s.As<double>());
    }

    [Test]
    public void Strings_round_trip_as_UTF8()
    {
        const string text = "héllo wörld ✓ 𝄞 日本";
        Assert.That(RoundTrip(text), Is.EqualTo(text));
        Assert.That(RoundTrip(""), Is.EqualTo(""));
        var longText = new string('x', 10_000) + "é";
        Assert.That(RoundTrip(longText), Is.EqualTo(longText));
        using var len = Py.Eval("len");
        Assert.That(len.Call<int>("𝄞"), Is.EqualTo(1)); // one code point in Python
        Assert.That(RoundTrip('c'), Is.EqualTo('c'));
        using var n = Eval("5");
        var ex = Assert.Throws<PythonConversionException>(() => n.As<string>());
        Assert.That(ex!.PythonType, Is.EqualTo("int"));
        Assert.That(ex.DotNetType, Is.EqualTo(typeof(string)));
    }

    [Test]
    public void Byte_arrays_are_bytes()
    {
        var data = new byte[] { 0, 1, 2, 255, 0 };
        Assert.That(PyTypeOf(data), Is.EqualTo("bytes"));
        Assert.That(RoundTrip(data), Is.EqualTo(data));
        using var b = Eval("b'\\x00abc'");
        Assert.That(b.As<object>(), Is.EqualTo(new byte[] { 0, 97, 98, 99 }));
    }

    [Test]
    public void Arrays_and_lists_become_lists()
    {
        Assert.That(PyTypeOf(new[] { 1, 2 }), Is.EqualTo("list"));
        Assert.That(PyTypeOf(new List<string> { "a" }), Is.EqualTo("list"));
        Assert.That(RoundTrip(new[] { 1, 2, 3 }), Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(RoundTrip(new List<string> { "a", "b" }), Is.EqualTo(new List<string> { "a", "b" }));
        Assert.That(RoundTrip<IReadOnlyList<double>>(new List<double> { 0.5 }), Is.EqualTo(new[] { 0.5 }));
        Assert.That(RoundTrip(new[] { new[] { 1L }, new[] { 2L, 3L } }), Is.EqualTo(new[] { new[] { 1L }, new[] { 2L, 3L } }));
        using var mixed = Eval("[1, 'a', None, 2.5]");
        Assert.That(mixed.As<object>(), Is.EqualTo(new List<object?> { 1L, "a", null, 2.5 }));
        using var bad = Eval("[1, 'a']");
        var ex = Assert.Throws<PythonConversionException>(() => bad.As<int[]>());
        Assert.That(ex!.Message, Does.Contain("'str'").And.Contain("System.Int32"));
    }

    [Test]
    public void Tuples_round_trip_as_ValueTuple_and_Tuple()
    {
        Assert.That(PyTypeOf((1, "a")), Is.EqualTo("tuple"));
        Assert.That(PyTypeOf(Tuple.Create(1, 2.0)), Is.EqualTo("tuple"));
        Assert.That(RoundTrip((1, "a", 2.5)), Is.EqualTo((1, "a", 2.5)));
        Assert.That(RoundTrip(Tuple.Create(1L, "x")), Is.EqualTo(Tuple.Create(1L, "x")));
        using var divmod = Py.Eval("divmod");
        Assert.That(divmod.Call<(long Q, long R)>(17, 5), Is.EqualTo((3L, 2L)));
        using var t = Eval("(1, 'b')");
        Assert.That(t.As<object>(), Is.EqualTo(new object?[] { 1L, "b" }));
        Assert.That(t.As<long[]>, Throws.TypeOf<PythonConversionException>());
        var ex = Assert.Throws<PythonConversionException>(() => t.As<(int, string, int)>());
        Assert.That(ex!.Message, Does.Contain("2 items"));
    }

    [Test]
    public void Dictionaries_round_trip()
    {
        var d = new Dictionary<string, int> { ["a"] = 1, ["b"] = 2 };
        Assert.That(PyTypeOf(d), Is.EqualTo("dict"));
        Assert.That(RoundTrip(d), Is.EqualTo(d));
        var nested = new Dictionary<int, List<string>> { [1] = ["x"], [2] = [] };
        Assert.That(RoundTrip(nested), Is.EqualTo(nested));
        using var py = Eval("{'k': [1, 2], 3: None}");
        var natural = (Dictionary<object, object?>)py.As<object>()!;
        Assert.That(natural["k"], Is.EqualTo(new List<object?> { 1L, 2L }));
        Assert.That(natural[3L], Is.Null);
        Assert.Throws<PythonConversionException>(() => py.As<Dictionary<string, object>>());
    }

    [Test]
    public void PyObject_passes_through_both_ways()
    {
        using var ident = Identity();
        using var obj = Py.Eval("object()");
        using var back = ident.Call<PyObject>(obj);
        Assert.That(back.Handle, Is.EqualTo(obj.Handle));
        Assert.That(obj.As<object>(), Is.TypeOf<PyObject>()); // no natural .NET form
        using var list = Py.From(new object?[] { obj, 1 });
        using var first = list[0];
        Assert.That(first.Handle, Is.EqualTo(obj.Handle));
    }

    [Test]
    public void Unsupported_dotnet_value_names_its_type()
    {
        var ex = Assert.Throws<PythonConversionException>(() => Py.From(new Uri("http://example.com")));
        Assert.That(ex!.Message, Does.Contain("System.Uri"));
        Assert.That(ex.PythonType, Is.Null);
    }

    [Test]
    public void Unconvertible_result_names_python_and_dotnet_types()
    {
        using var ident = Identity();
        var ex = Assert.Throws<PythonConversionException>(() => ident.Call<int>("text"));
        Assert.That(ex!.Message, Is.EqualTo("Cannot convert Python 'str' to .NET type 'System.Int32'."));
    }
}
