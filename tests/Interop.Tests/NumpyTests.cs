using Bridge.Interop;

namespace Interop.Tests;

public sealed class NumpyTests
{
    private static PyObject ImportNumpyOrIgnore()
    {
        try
        {
            return Py.Import("numpy");
        }
        catch (PythonException e) when (e.PythonTypeName is "ModuleNotFoundError" or "ImportError")
        {
            Assert.Ignore($"numpy is not importable for {PythonRuntime.Location.LibraryPath}: {e.Message}");
            throw;
        }
    }

    [Test]
    public void Numpy_imports_and_computes()
    {
        using var np = ImportNumpyOrIgnore();
        using var arr = np.GetAttr("arange").Call(10);
        using var total = arr.CallMethod("sum");
        Assert.That(total.As<long>(), Is.EqualTo(45)); // numpy.int64 is not an int: converts through __index__
        using var list = arr.CallMethod("tolist");
        Assert.That(list.As<long[]>(), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (long)i).ToArray()));
        using var matrix = np.GetAttr("array").Call((object)new[] { new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 } }); // cast: a T[] would bind to params object?[]
        using var det = np.GetAttr("linalg").GetAttr("det").Call(matrix);
        Assert.That(det.PythonTypeName, Is.EqualTo("numpy.float64"));
        Assert.That(det.As<double>(), Is.EqualTo(-2.0).Within(1e-9));
        Assert.That(total.As<object>(), Is.TypeOf<PyObject>());
    }

    [Test]
    public void Math_extension_module_works()
    {
        using var math = Py.Import("math");
        Assert.That(math.GetAttr("gcd").Call<long>(84, 36), Is.EqualTo(12));
        Assert.That(math.GetAttr("isqrt").Call<System.Numerics.BigInteger>(System.Numerics.BigInteger.Pow(10, 40)),
            Is.EqualTo(System.Numerics.BigInteger.Pow(10, 20)));
    }
}
