// ringxfer-http-test: the HTTP/1.1 layer of `ringxfer serve` (tools/http),
// with the hostile inputs of issue 10 section 2 that it can judge alone.
#define BOOST_TEST_MODULE ringxfer_http
#include <boost/test/unit_test.hpp>
