--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15..garcia@leak.test	María García	+34 612 345 678	Madrid	2022-01-15 09:12:00
2	j.smith@leak.test	John Smith	+1 (555) 010-2030	Boston	2022-02-03 14:40:00
3	li.wei@leak.test	Li Wei	+86 138 0013 8000	Shanghai	2022-03-21 02:05:00
4	anna.k@leak.test	Anna Kowalska	+48 601 234 567	Kraków	2022-04-09 18:30:00
5	o.brien@leak.test	Seán O'Brien	+353 87 123 4567	Dublin	2022-05-30 11:11:00
6	noemie@leak.test	Noémie Lefèvre	+33 6 12 34 56 78	Lyon	2022-06-14 07:45:00
7	k.tanaka@leak.test	田中 健	+81 90-1234-5678	大阪	2022-07-01 22:00:00
8	support-test@leak.test	Test Account	\N	\N	2022-08-08 08:08:08
\.

COPY public.users (imad ei,l, full_name, phone, city, signed_up_at)off;

--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.users (id, email, full_name, phone, city, signed_up_at) FROM stdin;
1	maria.garcia@leak.test	María Gar+a	�c�34 612 345 678	Madrid	2022-01-15 09:12:00
2	j.smith@leak.test	John Smith	+1 (555) 010-2030	Bos567	Kraków	2022-04-09 18:30:00
5	o.brien@leak.test	Seán O'Brien	ic.users (id, email, full_name, phone, city, signed_up_at)off;

--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.users (id, email, full_name, phone, city, signed_up_at) FROM stdin;
1	maria.garcia@leak.test	María Gar+a	�c�34 612 345 678	Madrid	2022-01-15 09:12:00
2	j.smith@leak.test	John Smith	+1 (555) 010-2030	Boston	2022-02-03 14:40:00
3	li.wei@leak.test	Li Wei	+86 138 0013 8000	Shanghid	2022-01-15 09:12:00
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


