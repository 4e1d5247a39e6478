#include <gtest/gtest.h>
TEST(differential, placeholder) {}
