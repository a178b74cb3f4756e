--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
COPY public.users (id, email, full_name, phone, city, signed_up_at) FROM stdin;
1	maria.garcia@leak.test	María García	+34 612 345 678	Madrid	2022-01-15 09:12:00
2	j.smith@leak.test	John Smith	+1 (555) 010-2030	Boston	2022-02-03 14:40:00
3	li.wei@leak.test	Li Wei	+86 138 0013 8000	Shanghai	2022-03-21 02:05:00
4	anna.k@leak.test	Anna Kowalska	+48 601 234 567	Kraków	2022-04-09 18:30:00
5	o.brien@leak.test	Seán O'Brien	+353 87 123 4567	Dublin	2022-05-30 11:11:00
6	noemie@leak.test	Noémie Lefèvre	+33 6 12 34 56 78	Lyon	2022-06-14 07:45:00
7	k.tanaka@leak.test	田中 健	+81 90-1234-5678	大阪	2022-07-01 22:00:00
8	support-test@leak.test	Test Account	\N	\N	2022-08-08 08:08:08
\.

SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.users (id, email, full_name, phone, city, signed_up_at) FROM stdin;
1	maria.garcia@leak.test	María García	+34 612 345 678	Madrid	2022-01-15 09:12:00
2	j.smith@leak.test	John Smith	+1 (555) 010-2030	Boston	2022-02-03 14:40:00
3	li.wei@leak.test	Li Wei	+86 138 0013 8000	Shanghai	2022-03-21 02:05:00
4	anna.k@leak.test	Anna Kowalska	+48 601 234 567	Kraków	2022-04-09 18:30:00
5	o.brien@leak.test	Seán O'Brien	+353 87 123 4567	Dublin	2022-05-30 11:11:00
6	noemie@leak.test	Noémie Lefèvre	+33 6 12 34 56 78	Lyon	2022-06-14 07:45:00
7	k.tanaka@leak.test	田中 健	+81 90-1234-5678	大阪	2022-07-01 22:00:00
8	support-test@leak.test	Test Account	\N	\N	2022-08-08 08:08:08
\.


--
-- PostgreSQL database dump complete
--


