using Bridge.Interop;

namespace Interop.Tests;

public sealed class PythonExceptionTests
{
    private static PyObject Function(string code, string name)
    {
        using var g = Py.Exec(code);
        return g[name];
    }

    [Test]
    public void Exception_carries_type_message_and_traceback()
    {
        using var f = Function("def boom(x):\n    raise ValueError(f'bad value {x}')\n", "boom");
        var ex = Assert.Throws<PythonException>(() => f.Call(7));
        Assert.That(ex!.PythonTypeName, Is.EqualTo("ValueError"));
        Assert.That(ex.PythonMessage, Is.EqualTo("bad value 7"));
        Assert.That(ex.Message, Is.EqualTo("ValueError: bad value 7"));
        Assert.That(ex.PythonTraceback, Does.StartWith("Traceback (most recent call last)"));
        Assert.That(ex.PythonTraceback, Does.Contain("in boom"));
        Assert.That(ex.ToString(), Does.Contain("--- Python traceback ---"));
    }

    [Test]
    public void Type_name_is_qualified_for_non_builtin_exceptions()
    {
        using var json = Py.Import("json");
        var ex = Assert.Throws<PythonException>(() => json.GetAttr("loads").Call("{not json"));
        Assert.That(ex!.PythonTypeName, Is.EqualTo("json.decoder.JSONDecodeError"));
    }

    [Test]
    public void Cause_becomes_InnerException()
    {
        using var f = Function(
            "def chained():\n    try:\n        {}['k']\n    except KeyError as e:\n        raise RuntimeError('wrapped') from e\n", "chained");
        var ex = Assert.Throws<PythonException>(() => f.Call());
        Assert.That(ex!.PythonTypeName, Is.EqualTo("RuntimeError"));
        var inner = ex.InnerException as PythonException;
        Assert.That(inner, Is.Not.Null);
        Assert.That(inner!.PythonTypeName, Is.EqualTo("KeyError"));
        Assert.That(inner.PythonMessage, Is.EqualTo("'k'"));
        Assert.That(ex.PythonTraceback, Does.Contain("direct cause"));
    }

    [Test]
    public void Implicit_context_becomes_InnerException_unless_suppressed()
    {
        using var g = Py.Exec(
            "def implicit():\n    try:\n        1/0\n    except ZeroDivisionError:\n        raise TypeError('during handling')\n" +
            "def suppressed():\n    try:\n        1/0\n    except ZeroDivisionError:\n        raise TypeError('clean') from None\n");
        var ex = Assert.Throws<PythonException>(() => g["implicit"].Call());
        Assert.That((ex!.InnerException as PythonException)?.PythonTypeName, Is.EqualTo("ZeroDivisionError"));
        var ex2 = Assert.Throws<PythonException>(() => g["suppressed"].Call());
        Assert.That(ex2!.InnerException, Is.Null);
    }

    [Test]
    public void Error_state_is_cleared_after_an_exception()
    {
        using var f = Function("def boom():\n    raise KeyError('x')\n", "boom");
        Assert.Throws<PythonException>(() => f.Call());
        using var math = Py.Import("math");
        Assert.That(math.GetAttr("floor").Call<long>(2.5), Is.EqualTo(2));
    }

    [Test]
    public void Typed_delegate_surfaces_Python_exceptions()
    {
        using var f = Function("def inv(x):\n    return 1 / x\n", "inv");
        var fn = f.GetFunction<long, double>();
        Assert.That(fn(4), Is.EqualTo(0.25));
        var ex = Assert.Throws<PythonException>(() => fn(0));
        Assert.That(ex!.PythonTypeName, Is.EqualTo("ZeroDivisionError"));
    }
}
